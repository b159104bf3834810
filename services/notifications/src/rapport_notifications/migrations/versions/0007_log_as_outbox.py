"""No unique index on event ids; on SQLite the events table is the outbox (see
rapport_shared.persistence.shared_migrations.fold_outbox_into_log).

Revision ID: 0007
Revises: 0006
"""

from rapport_shared.persistence.shared_migrations import (
    fold_outbox_into_log,
    unfold_outbox_from_log,
)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    fold_outbox_into_log()


def downgrade() -> None:
    unfold_outbox_from_log()
