"""Reminders are claimed by whether a channel still awaits delivery, not by their status: a
reminder is sent once one channel delivered, while another may still be retried.

Revision ID: 0008_awaiting_delivery
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_awaiting_delivery"
down_revision = "0007"
branch_labels = None
depends_on = None

_SENT_SOMEWHERE = (
    "EXISTS (SELECT 1 FROM deliveries WHERE deliveries.reminder_id = reminders.reminder_id"
    " AND deliveries.status = 'sent')"
)


def upgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.add_column(
            sa.Column("awaiting_delivery", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # What was pending is what still awaits a delivery; of it, what a channel delivered is sent.
    op.execute("UPDATE reminders SET awaiting_delivery = (status = 'pending')")
    op.execute(
        f"UPDATE reminders SET status = 'sent' WHERE status = 'pending' AND {_SENT_SOMEWHERE}"
    )
    with op.batch_alter_table("reminders") as batch:
        batch.alter_column("awaiting_delivery", server_default=None)
        batch.drop_index("ix_reminders_due")
        batch.create_index("ix_reminders_awaiting", ["awaiting_delivery", "next_attempt_at"])


def downgrade() -> None:
    op.execute(
        "UPDATE reminders SET status = 'pending' WHERE status = 'sent' AND awaiting_delivery"
    )
    with op.batch_alter_table("reminders") as batch:
        batch.drop_index("ix_reminders_awaiting")
        batch.create_index("ix_reminders_due", ["status", "next_attempt_at"])
        batch.drop_column("awaiting_delivery")
