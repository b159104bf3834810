"""Clinical depth: goal terms and FHIR status, homework schedule, goal history, homework
outcomes and measures.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GOAL_COLUMNS = (
    sa.Column("type", sa.String(16), nullable=False, server_default="behavioral"),
    sa.Column("horizon", sa.String(16), nullable=False, server_default="short-term"),
    sa.Column("priority", sa.String(8), nullable=False, server_default="medium"),
    sa.Column("review_every_days", sa.Integer()),
    sa.Column("milestones", sa.JSON(), nullable=False, server_default="[]"),
    sa.Column("gas_scale", sa.JSON()),
    sa.Column("gas_weight", sa.Float(), nullable=False, server_default="1.0"),
    sa.Column("lifecycle_status", sa.String(20), nullable=False, server_default="active"),
    sa.Column("achievement_status", sa.String(20), nullable=False, server_default="in-progress"),
    sa.Column("attained_level", sa.Integer()),
    sa.Column("last_reviewed_at", sa.DateTime(timezone=True)),
)
HOMEWORK_COLUMNS = (
    sa.Column("type", sa.String(32), nullable=False, server_default="other"),
    sa.Column("recurrence", sa.JSON()),
    sa.Column("reminder_lead_minutes", sa.Integer()),
    sa.Column("next_due_at", sa.DateTime(timezone=True)),
    sa.Column("cancelled_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    for column in GOAL_COLUMNS:
        op.add_column("goal_progress", column)
    for column in HOMEWORK_COLUMNS:
        op.add_column("client_homework", column)
    # Homework assigned before this revision: its one occurrence is open until completed.
    op.execute("UPDATE client_homework SET next_due_at = due_at WHERE completed_at IS NULL")
    op.create_index("ix_client_homework_next_due", "client_homework", ["next_due_at"])
    op.create_table(
        "goal_history",
        sa.Column("goal_id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64)),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("attained_level", sa.Integer()),
    )
    op.create_table(
        "homework_outcomes",
        sa.Column("homework_id", sa.Uuid(), primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("goal_id", sa.Uuid()),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.Column("self_rating", sa.Integer()),
    )
    op.create_index("ix_homework_outcomes_client", "homework_outcomes", ["clinic_id", "client_id"])
    op.create_index("ix_homework_outcomes_goal", "homework_outcomes", ["goal_id"])
    op.create_table(
        "client_measures",
        sa.Column("measure_id", sa.Uuid(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("counselor_id", sa.String(64)),
        sa.Column("session_id", sa.Uuid()),
        sa.Column("instrument", sa.String(8), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(32)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alliance_alert", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_client_measures_client",
        "client_measures",
        ["clinic_id", "client_id", "recorded_at"],
    )


def downgrade() -> None:
    for table in ("client_measures", "homework_outcomes", "goal_history"):
        op.drop_table(table)
    op.drop_index("ix_client_homework_next_due", "client_homework")
    with op.batch_alter_table("client_homework") as batch:
        for homework_column in HOMEWORK_COLUMNS:
            batch.drop_column(homework_column.name)
    with op.batch_alter_table("goal_progress") as batch:
        for column in GOAL_COLUMNS:
            batch.drop_column(column.name)
