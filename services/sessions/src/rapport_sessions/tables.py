"""The notes projection: per client, their sessions and the goals and homework agreed in them.

Homework rows may exist before their assignment is known (a completion can arrive first); such
rows have no session_id yet and stay out of every view until the assignment fills them in.
"""

from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, Date, DateTime, Index, MetaData, String, Table, Uuid

metadata = MetaData()

notes_sessions = Table(
    "notes_sessions",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    Column("clinic_id", String(63), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("counselor_id", String(64), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("next_session_at", DateTime(timezone=True)),
    Column("has_note", Boolean, nullable=False),
    Index("ix_notes_sessions_client", "clinic_id", "client_id", "starts_at"),
)

notes_goals = Table(
    "notes_goals",
    metadata,
    Column("goal_id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("clinic_id", String(63), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("description", String(2000), nullable=False),
    Column("due_date", Date, nullable=False),
    Index("ix_notes_goals_session", "session_id"),
)

notes_homework = Table(
    "notes_homework",
    metadata,
    Column("homework_id", Uuid, primary_key=True),
    Column("clinic_id", String(63), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("session_id", Uuid),
    Column("goal_id", Uuid),
    Column("instructions", String(2000)),
    Column("due_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Index("ix_notes_homework_session", "session_id"),
)

PROJECTION_TABLES = (notes_sessions, notes_goals, notes_homework)


def to_utc(moment: datetime) -> datetime:
    """SQLite keeps no offset: write every time in UTC and read naive values back as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
