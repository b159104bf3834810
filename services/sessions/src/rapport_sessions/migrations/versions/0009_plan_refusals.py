"""The plan items the goals service could not apply (plan-item-refused).

Revision ID: 0009_plan_refusals
Revises: 0008_outbox_quarantine
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_plan_refusals"
down_revision = "0008_outbox_quarantine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_refusals",
        sa.Column("item_id", sa.Uuid(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("field", sa.String(200), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_plan_refusals_session", "plan_refusals", ["session_id"])
    op.create_index("ix_plan_refusals_client", "plan_refusals", ["clinic_id", "client_id"])


def downgrade() -> None:
    op.drop_table("plan_refusals")
