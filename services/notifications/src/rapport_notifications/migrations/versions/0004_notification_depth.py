"""Clinical depth for notifications: reminders about sessions, goals and alerts (their subject
ids, the client, the facts their words are rendered from, instead of the rendered message), their
per-channel deliveries, the in-app feed, delivery error details, recipients' time zone, quiet
hours, webhook and preferences (email now optional), and erased clients.

Revision ID: 0004
Revises: 0003_auth
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot drop a column or change its nullability in place.
    with op.batch_alter_table("reminders") as batch:
        batch.drop_column("message")
        batch.add_column(sa.Column("client_id", sa.String(64)))
        batch.add_column(sa.Column("session_id", sa.Uuid()))
        batch.add_column(sa.Column("goal_id", sa.Uuid()))
        batch.add_column(sa.Column("alert_id", sa.Uuid()))
        batch.add_column(sa.Column("facts", sa.JSON()))
        batch.create_index("ix_reminders_client", ["clinic_id", "client_id"])
    with op.batch_alter_table("recipients") as batch:
        batch.alter_column("email", existing_type=sa.String(254), nullable=True)
        batch.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
        )
        batch.add_column(sa.Column("quiet_start", sa.String(5)))
        batch.add_column(sa.Column("quiet_end", sa.String(5)))
        batch.add_column(sa.Column("webhook_url", sa.Text()))
        batch.add_column(sa.Column("webhook_secret", sa.Text()))
        batch.add_column(sa.Column("preferences", sa.JSON()))
    op.create_table(
        "deliveries",
        sa.Column("reminder_id", sa.Uuid(), primary_key=True),
        sa.Column("channel", sa.String(20), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("failure_reason", sa.String(40)),
    )
    op.create_table(
        "feed",
        sa.Column("item_id", sa.Uuid(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64)),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_feed_recipient", "feed", ["clinic_id", "recipient_id", "created_at"])
    op.create_index("ix_feed_client", "feed", ["clinic_id", "client_id"])
    op.create_table(
        "delivery_errors",
        sa.Column("reminder_id", sa.Uuid(), primary_key=True),
        sa.Column("channel", sa.String(20), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "erased_clients",
        sa.Column("client_key", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erased_clients")
    op.drop_table("delivery_errors")
    op.drop_table("feed")
    op.drop_table("deliveries")
    with op.batch_alter_table("recipients") as batch:
        for column in (
            "preferences",
            "webhook_secret",
            "webhook_url",
            "quiet_end",
            "quiet_start",
            "time_zone",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("reminders") as batch:
        batch.drop_index("ix_reminders_client")
        for column in ("facts", "alert_id", "goal_id", "session_id", "client_id"):
            batch.drop_column(column)
        batch.add_column(sa.Column("message", sa.Text(), nullable=False, server_default=""))
