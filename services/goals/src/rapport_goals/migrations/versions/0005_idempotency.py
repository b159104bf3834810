"""Idempotency keys: the first response to each Idempotency-Key, kept for replays.

Revision ID: 0005
Revises: 0004
"""

from rapport_shared.web.idempotency.migrations import (
    create_idempotency_table_v1,
    drop_idempotency_table_v1,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_table_v1()


def downgrade() -> None:
    drop_idempotency_table_v1()
