"""This service's own tables (beside the shared event store): the reminders read model, the
delivery claims of the scheduler, and the recipients' contact addresses."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text, Uuid
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

# The projection: one row per reminder, built from this service's own events only.
reminders = Table(
    "reminders",
    metadata,
    Column("reminder_id", Uuid, primary_key=True),
    Column("clinic_id", String(63), nullable=False),
    Column("recipient_id", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("homework_id", Uuid),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("message", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("failure_reason", Text),
    Index("ix_reminders_recipient", "clinic_id", "recipient_id"),
    Index("ix_reminders_due", "status", "next_attempt_at"),
)

# Operational state, not a projection: a reminder is reserved here while it is being delivered,
# so rebuilding the projection never forgets a delivery in flight.
delivery_claims = Table(
    "delivery_claims",
    metadata,
    Column("reminder_id", Uuid, primary_key=True),
    Column("claimed_until", DateTime(timezone=True), nullable=False),
)

# Configuration, not a clinical fact: plain state, changed in place.
recipients = Table(
    "recipients",
    metadata,
    Column("clinic_id", String(63), primary_key=True),
    Column("recipient_id", String(64), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

PROJECTION_TABLES = (reminders,)


def as_utc(moment: datetime) -> datetime:
    """For writing: SQLite stores a datetime's wall-clock digits and drops the offset. For
    reading: SQLite hands back naive datetimes, which are UTC because they were written so."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


async def upsert(
    conn: AsyncConnection, table: Table, values: Mapping[str, Any], key: Sequence[str]
) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(dict(values))
    changes = {name: statement.excluded[name] for name in values if name not in key}
    await conn.execute(statement.on_conflict_do_update(index_elements=key, set_=changes))
