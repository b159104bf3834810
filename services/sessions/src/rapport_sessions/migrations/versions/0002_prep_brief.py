"""The prep-brief projection: goal facts, homework and its outcomes, measures, alliance alerts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CLINIC = ("clinic_id", "client_id")


def _owner() -> list[sa.Column[str]]:
    return [
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "prep_goal_facts",
        sa.Column("goal_id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
        *_owner(),
        sa.Column("description", sa.String(2000)),
        sa.Column("target", sa.String(2000)),
        sa.Column("due_date", sa.Date()),
        sa.Column("lifecycle_status", sa.String(20)),
        sa.Column("achievement_status", sa.String(20)),
        sa.Column("gas_level", sa.Integer()),
    )
    op.create_index("ix_prep_goal_facts_client", "prep_goal_facts", list(_CLINIC))
    op.create_table(
        "prep_homework",
        sa.Column("homework_id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column("goal_id", sa.Uuid()),
        sa.Column("instructions", sa.String(2000)),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_prep_homework_client", "prep_homework", list(_CLINIC))
    op.create_table(
        "prep_homework_outcomes",
        sa.Column("homework_id", sa.Uuid(), primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("outcome", sa.String(10), primary_key=True),
        *_owner(),
        sa.Column("goal_id", sa.Uuid()),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("self_rating", sa.Integer()),
    )
    op.create_index("ix_prep_homework_outcomes_client", "prep_homework_outcomes", [*_CLINIC, "at"])
    op.create_table(
        "prep_measures",
        sa.Column("measure_id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column("instrument", sa.String(10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(100)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_prep_measures_client", "prep_measures", [*_CLINIC, "recorded_at"])
    op.create_table(
        "prep_alliance_alerts",
        sa.Column("alert_id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column("srs_total", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_prep_alliance_alerts_client", "prep_alliance_alerts", [*_CLINIC, "raised_at"]
    )


def downgrade() -> None:
    for table in (
        "prep_alliance_alerts",
        "prep_measures",
        "prep_homework_outcomes",
        "prep_homework",
        "prep_goal_facts",
    ):
        op.drop_table(table)
