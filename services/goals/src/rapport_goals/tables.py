"""The progress read model. migrations/versions/0001_initial.py creates exactly these tables."""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
)

metadata = MetaData()

# One row per goal: what was agreed, and how its homework is going.
goal_progress = Table(
    "goal_progress",
    metadata,
    Column("goal_id", Uuid, primary_key=True),
    Column("clinic_id", String(63), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("counselor_id", String(64), nullable=False),
    Column("session_id", Uuid),
    Column("description", String(2000), nullable=False),
    Column("measure", String(2000), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("agreed_at", DateTime(timezone=True), nullable=False),
    Column("homework_assigned", Integer, nullable=False),
    Column("homework_completed", Integer, nullable=False),
    Column("completed_on_time", Integer, nullable=False),
)
Index("ix_goal_progress_client", goal_progress.c.clinic_id, goal_progress.c.client_id)

# One row per homework, for a client's list (homework need not serve a goal).
client_homework = Table(
    "client_homework",
    metadata,
    Column("homework_id", Uuid, primary_key=True),
    Column("clinic_id", String(63), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("counselor_id", String(64), nullable=False),
    Column("goal_id", Uuid),
    Column("session_id", Uuid),
    Column("instructions", String(2000), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Column("on_time", Boolean),
)
Index(
    "ix_client_homework_client",
    client_homework.c.clinic_id,
    client_homework.c.client_id,
    client_homework.c.due_at,
)

PROJECTION_TABLES = (goal_progress, client_homework)
