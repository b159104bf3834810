"""Initial schema: the shared event store tables, the reminders read model, delivery claims and
recipients' contact addresses.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from rapport_shared.persistence.shared_migrations import create_core_tables_v1, drop_core_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_core_tables_v1()
    op.create_table(
        "reminders",
        sa.Column("reminder_id", sa.Uuid(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("homework_id", sa.Uuid()),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("failure_reason", sa.Text()),
    )
    op.create_index("ix_reminders_recipient", "reminders", ["clinic_id", "recipient_id"])
    op.create_index("ix_reminders_due", "reminders", ["status", "next_attempt_at"])
    op.create_table(
        "delivery_claims",
        sa.Column("reminder_id", sa.Uuid(), primary_key=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "recipients",
        sa.Column("clinic_id", sa.String(63), primary_key=True),
        sa.Column("recipient_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recipients")
    op.drop_table("delivery_claims")
    op.drop_table("reminders")
    drop_core_tables()
