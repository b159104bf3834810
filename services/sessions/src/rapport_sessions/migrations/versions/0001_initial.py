"""Event store, outbox and consumer tables; the notes projection.

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
        "notes_sessions",
        sa.Column("session_id", sa.Uuid(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("counselor_id", sa.String(64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("next_session_at", sa.DateTime(timezone=True)),
        sa.Column("has_note", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_notes_sessions_client", "notes_sessions", ["clinic_id", "client_id", "starts_at"]
    )
    op.create_table(
        "notes_goals",
        sa.Column("goal_id", sa.Uuid(), primary_key=True),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
    )
    op.create_index("ix_notes_goals_session", "notes_goals", ["session_id"])
    op.create_table(
        "notes_homework",
        sa.Column("homework_id", sa.Uuid(), primary_key=True),
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Uuid()),
        sa.Column("goal_id", sa.Uuid()),
        sa.Column("instructions", sa.String(2000)),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_notes_homework_session", "notes_homework", ["session_id"])


def downgrade() -> None:
    for table in ("notes_homework", "notes_goals", "notes_sessions"):
        op.drop_table(table)
    drop_core_tables()
