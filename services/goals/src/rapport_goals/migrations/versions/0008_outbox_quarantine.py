"""The outbox quarantine: events the broker refuses for good, set aside with the reason (see
rapport_shared.messaging.quarantine).

Revision ID: 0008_outbox_quarantine
Revises: 0007
"""

from rapport_shared.persistence.shared_migrations import (
    create_outbox_quarantine_table,
    drop_outbox_quarantine_table,
)

revision = "0008_outbox_quarantine"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_quarantine_table()


def downgrade() -> None:
    drop_outbox_quarantine_table()
