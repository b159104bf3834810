"""Event store, outbox and consumer tables; the progress read model.

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
        "goal_progress",
        sa.Column("goal_id", sa.Uuid(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("counselor_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Uuid()),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("measure", sa.String(2000), nullable=False),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("homework_assigned", sa.Integer(), nullable=False),
        sa.Column("homework_completed", sa.Integer(), nullable=False),
        sa.Column("completed_on_time", sa.Integer(), nullable=False),
    )
    op.create_index("ix_goal_progress_client", "goal_progress", ["clinic_id", "client_id"])
    op.create_table(
        "client_homework",
        sa.Column("homework_id", sa.Uuid(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("counselor_id", sa.String(64), nullable=False),
        sa.Column("goal_id", sa.Uuid()),
        sa.Column("session_id", sa.Uuid()),
        sa.Column("instructions", sa.String(2000), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("on_time", sa.Boolean()),
    )
    op.create_index(
        "ix_client_homework_client", "client_homework", ["clinic_id", "client_id", "due_at"]
    )


def downgrade() -> None:
    for table in ("client_homework", "goal_progress"):
        op.drop_table(table)
    drop_core_tables()
