"""The outbox quarantine: events the broker refuses for good, set aside with the reason (see
rapport_shared.messaging.quarantine).

Revision ID: 0009_outbox_quarantine
Revises: 0008_awaiting_delivery
"""

from rapport_shared.persistence.shared_migrations import (
    create_outbox_quarantine_table,
    drop_outbox_quarantine_table,
)

revision = "0009_outbox_quarantine"
down_revision = "0008_awaiting_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_quarantine_table()


def downgrade() -> None:
    drop_outbox_quarantine_table()
