"""Stored Idempotency-Key answers rest sealed under the client's key (or the service's), with
the client they concern; the answers kept in clear before go (rapport_shared.web.idempotency).
This service now keeps per-client keys too (client_keys), destroyed when a client is erased.

Revision ID: 0010_sealed_answers
Revises: 0009_outbox_quarantine
"""

from rapport_shared.eventsourcing.client_keys_migrations import (
    create_client_keys_table,
    drop_client_keys_table,
)
from rapport_shared.web.idempotency.migrations import (
    seal_stored_answers_v2,
    unseal_stored_answers_v2,
)

revision = "0010_sealed_answers"
down_revision = "0009_outbox_quarantine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_client_keys_table()
    seal_stored_answers_v2()


def downgrade() -> None:
    unseal_stored_answers_v2()
    drop_client_keys_table()
