"""Stored Idempotency-Key answers rest sealed under the client's key (or the service's), with
the client they concern; the answers kept in clear before go (rapport_shared.web.idempotency).

Revision ID: 0010_sealed_answers
Revises: 0009_plan_refusals
"""

from rapport_shared.web.idempotency.migrations import (
    seal_stored_answers_v2,
    unseal_stored_answers_v2,
)

revision = "0010_sealed_answers"
down_revision = "0009_plan_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    seal_stored_answers_v2()


def downgrade() -> None:
    unseal_stored_answers_v2()
