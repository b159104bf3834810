"""Append-only event store with optimistic concurrency and a transactional outbox.

append() writes the events and, for public contracts, what the relay publishes on the caller's
connection: they commit or roll back together with whatever else the caller does in that
transaction (projection updates, consumer checkpoints). On PostgreSQL that is an outbox row per
public event; on SQLite the events table is the outbox (see outbox.py) and only a bus copy that
differs from the logged event gets an outbox row.
"""

import functools
import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pydantic_core
from sqlalchemy import Text, bindparam, func, insert, select, type_coerce
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts import envelope
from rapport_shared.contracts.base import EventContract, EventRegistry
from rapport_shared.persistence.db import (
    driver_statement,
    sqlite_reading,
    sqlite_time,
    sqlite_writing,
    to_json,
)
from rapport_shared.persistence.driver_sql import one_of, rows_among
from rapport_shared.persistence.postgres_engine import postgres_driver
from rapport_shared.persistence.schema import events_table, outbox_table
from rapport_shared.telemetry.context import EventMetadata, current_metadata


class ConcurrencyConflict(Exception):
    """The stream moved on since the caller read it: the command must be retried on fresh state."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(f"stream {stream_id} is no longer at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


@dataclass(frozen=True)
class StoredEvent:
    position: int
    event_id: str
    stream_id: str
    version: int
    occurred_at: datetime
    metadata: dict[str, Any]
    event: EventContract


class ReplayedEvent(NamedTuple):
    """What a projection rebuild needs of a stored event, and no more (reading and decoding the
    rest cost as much as the replay itself)."""

    position: int
    stream_id: str
    version: int
    event: EventContract


class _Written(NamedTuple):
    """What every event of one append shares."""

    metadata: dict[str, Any]
    metadata_json: str
    at: datetime


class EventStore:
    def __init__(self, registry: EventRegistry) -> None:
        self.registry = registry

    async def append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventContract],
        metadata: EventMetadata | None = None,
    ) -> list[StoredEvent]:
        """Append events after expected_version (0 for a new stream).

        Raises ConcurrencyConflict when another writer got there first; the unique
        (stream_id, version) constraint decides, so the check and the write are one step.
        """
        meta = (metadata or current_metadata()).as_dict()
        written = _Written(meta, to_json(meta), datetime.now(UTC))
        statements = _statements(conn.dialect.name)
        if len(events) == 1:
            # The common case needs no savepoint: a conflict writes nothing (see _insert).
            only = await self._insert(
                conn, statements, stream_id, expected_version + 1, events[0], written
            )
            if only is None:
                raise ConcurrencyConflict(stream_id, expected_version)
            return [only]

        # Several events: a conflict on a later one must undo the earlier ones too, and leave
        # the caller's transaction usable (a caller may skip a conflicting append and go on).
        async def insert_all() -> list[StoredEvent]:
            stored: list[StoredEvent] = []
            for offset, event in enumerate(events, start=1):
                inserted = await self._insert(
                    conn, statements, stream_id, expected_version + offset, event, written
                )
                if inserted is None:
                    raise ConcurrencyConflict(stream_id, expected_version)
                stored.append(inserted)
            return stored

        if (writing := sqlite_writing(conn)) is not None:
            # The inserts go to the driver (see _insert_on_sqlite): so does their savepoint.
            writing.execute("SAVEPOINT rapport_append")
            try:
                stored = await insert_all()
            except BaseException:
                writing.execute("ROLLBACK TO rapport_append")
                writing.execute("RELEASE rapport_append")
                raise
            writing.execute("RELEASE rapport_append")
            return stored
        async with conn.begin_nested():  # rolled back by the exception
            return await insert_all()

    async def _insert(
        self,
        conn: AsyncConnection,
        statements: "_Statements",
        stream_id: str,
        version: int,
        event: EventContract,
        written: "_Written",
    ) -> StoredEvent | None:
        """Insert one event (and its outbox row); None when (stream_id, version) is taken.

        ON CONFLICT DO NOTHING instead of catching the unique violation: no savepoint is needed
        to keep the caller's transaction usable after a conflict (PostgreSQL aborts a
        transaction on any error), which saves two round trips per append.
        """
        meta, now = written.metadata, written.at
        event_id = str(uuid.uuid4())
        # A transport-only field (a sealed copy for the bus) is not kept in the log.
        stored = event.model_dump_json(exclude=set(event.transport_only) or None)
        row = {
            "event_id": event_id,
            "stream_id": stream_id,
            "version": version,
            "event_type": event.event_type,
            "schema_version": event.schema_version,
            "clinic_id": event.clinic_id,
            "occurred_at": now,
            "data": stored,
            "metadata": written.metadata_json,
        }
        outbox: dict[str, Any] | None = None
        # On SQLite the relay reads public events from the log itself (see outbox.py): only a
        # bus copy that the log cannot give back needs a row of its own.
        if event.public and (event.transport_only or not statements.log_is_outbox):
            message = envelope.encode(
                event,
                event_id=event_id,
                stream_id=stream_id,
                occurred_at=now,
                metadata=meta,
                data_json=None if event.transport_only else stored,
            )
            outbox = {
                "subject": message.subject,
                "headers": to_json(message.headers),
                "payload": message.payload,
                "created_at": now,
            }
        if outbox is not None and statements.event_and_outbox is not None:
            # One round trip for both rows; no outbox row when the event was not inserted.
            both = row | outbox
            if (driver := await postgres_driver(conn)) is not None:
                statement = driver_statement(
                    statements.event_and_outbox, tuple(both), conn.dialect, _ENCODED
                )
                position = await driver.fetchval(statement.sql, *statement.parameters(both))
            else:
                position = (await _execute(conn, statements.event_and_outbox, both)).scalar()
        elif (writing := sqlite_writing(conn)) is not None:
            position = _insert_on_sqlite(writing, conn.dialect, statements, row, outbox)
        else:
            result = await _execute(conn, statements.event, row)
            position = result.scalar() if statements.returning else _sqlite_position(result)
            if position is not None and outbox is not None:
                await _execute(conn, statements.outbox, outbox | {"position": position})
        if position is None:
            return None
        return StoredEvent(int(position), event_id, stream_id, version, now, meta, event)

    async def load(self, conn: AsyncConnection, stream_id: str) -> list[StoredEvent]:
        if (reading := _sqlite_reading(conn)) is not None:
            rows = reading.execute(_LOAD_ON_SQLITE, (stream_id,)).fetchall()
            return [self._from_sqlite(*row) for row in rows]
        result = await conn.execute(_LOAD, {"stream_id": stream_id})
        return [self._to_stored(row._mapping) for row in result]

    async def load_events(self, conn: AsyncConnection, stream_id: str) -> list[EventContract]:
        """The stream's events only, as an aggregate or a decision needs them: read leaner than
        load() (three columns, nothing else built per row)."""
        rows: Sequence[Any]
        if (reading := _sqlite_reading(conn)) is not None:
            rows = reading.execute(_EVENTS_ON_SQLITE, (stream_id,)).fetchall()
        else:
            rows = (await conn.execute(_EVENTS, {"stream_id": stream_id})).all()
        return [self._load_json(kind, schema, data) for kind, schema, data in rows]

    async def load_streams(
        self, conn: AsyncConnection, stream_ids: Iterable[str]
    ) -> dict[str, list[EventContract]]:
        """load_events for several streams with one query (a consumer's batch): each stream's
        events in version order, [] for a stream with none."""
        wanted = sorted(set(stream_ids))
        streams: dict[str, list[EventContract]] = {stream: [] for stream in wanted}
        if wanted:
            rows = await rows_among(conn, _streams, wanted, {})
            for stream_id, kind, schema, data in rows:
                streams[stream_id].append(self._load_json(kind, schema, data))
        return streams

    async def stream_version(self, conn: AsyncConnection, stream_id: str) -> int:
        if (reading := _sqlite_reading(conn)) is not None:
            return int(reading.execute(_VERSION_ON_SQLITE, (stream_id,)).fetchone()[0] or 0)
        result = await conn.execute(_VERSION, {"stream_id": stream_id})
        return int(result.scalar_one() or 0)

    async def read_all(
        self,
        conn: AsyncConnection,
        after_position: int = 0,
        limit: int = 1000,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        """Events in commit order, for projection rebuilds and temporal queries."""
        query = select(events_table).where(events_table.c.position > after_position)
        if until is not None:
            query = query.where(events_table.c.occurred_at <= until)
        rows = await conn.execute(query.order_by(events_table.c.position).limit(limit))
        return [self._to_stored(row._mapping) for row in rows]

    async def replay(
        self, conn: AsyncConnection, after_position: int = 0, limit: int = 5000
    ) -> list[ReplayedEvent]:
        """A page of events in commit order, lean: for projection rebuilds."""
        t = events_table
        rows = await conn.execute(
            select(t.c.position, t.c.stream_id, t.c.version, t.c.event_type)
            # The JSON as text where the driver allows: pydantic parses and validates it in one
            # step, twice as fast as json.loads and then validating the dict.
            .add_columns(t.c.schema_version, type_coerce(t.c.data, Text))
            .where(t.c.position > after_position)
            .order_by(t.c.position)
            .limit(limit)
        )
        return [
            ReplayedEvent(position, stream_id, version, self._load_json(kind, schema, data))
            for position, stream_id, version, kind, schema, data in rows
        ]

    def _load_json(self, event_type: str, schema_version: int, data: Any) -> EventContract:
        # SQLite hands the column back as text; asyncpg decodes JSON itself.
        if isinstance(data, str):
            contract = self.registry.contract_for(event_type)
            if schema_version == contract.schema_version:
                return contract.model_validate_json(data)
            data = json.loads(data)
        return self.registry.load(event_type, schema_version, data)  # upcasts older versions

    def _from_sqlite(
        self,
        position: int,
        event_id: str,
        version: int,
        event_type: str,
        schema_version: int,
        occurred_at: str,
        data: str,
        metadata: str,
        stream_id: str,
    ) -> StoredEvent:
        """A row as SQLite's own connection reads it: JSON as text, the time as text."""
        return StoredEvent(
            position=position,
            event_id=event_id,
            stream_id=stream_id,
            version=version,
            occurred_at=sqlite_time(occurred_at),
            metadata=pydantic_core.from_json(metadata),
            event=self._load_json(event_type, schema_version, data),
        )

    def _to_stored(self, row: Any) -> StoredEvent:
        occurred_at = row["occurred_at"]
        if occurred_at.tzinfo is None:  # SQLite hands back naive datetimes
            occurred_at = occurred_at.replace(tzinfo=UTC)
        return StoredEvent(
            position=row["position"],
            event_id=row["event_id"],
            stream_id=row["stream_id"],
            version=row["version"],
            occurred_at=occurred_at,
            metadata=row["metadata"],
            event=self.registry.load(row["event_type"], row["schema_version"], row["data"]),
        )


# The JSON columns of the two inserts, given to the driver as JSON text made once per event.
_ENCODED = frozenset({"data", "metadata", "headers"})


async def _execute(conn: AsyncConnection, statement: Any, row: dict[str, Any]) -> Any:
    """Execute a prebuilt insert with one row through the driver."""
    driver = driver_statement(statement, tuple(row), conn.dialect, _ENCODED)
    return await conn.exec_driver_sql(driver.sql, driver.parameters(row))


# A stream's events, read on SQLite's own connection: through SQLAlchemy's execution layer
# (statement, result rows, a JSON and a datetime processor per value) a load of a few events
# cost four times what SQLite and decoding them do, and commands and consumers load a stream
# each time they decide.
_LOAD_ON_SQLITE = (
    "SELECT position, event_id, version, event_type, schema_version, occurred_at, data,"
    " metadata, stream_id FROM events WHERE stream_id = ? ORDER BY version"
)
_EVENTS_ON_SQLITE = (
    "SELECT event_type, schema_version, data FROM events WHERE stream_id = ? ORDER BY version"
)
_VERSION_ON_SQLITE = "SELECT max(version) FROM events WHERE stream_id = ?"
_LOAD = (
    select(events_table)
    .where(events_table.c.stream_id == bindparam("stream_id"))
    .order_by(events_table.c.version)
)
_EVENTS = (
    select(events_table.c.event_type, events_table.c.schema_version, events_table.c.data)
    .where(events_table.c.stream_id == bindparam("stream_id"))
    .order_by(events_table.c.version)
)


@functools.cache
def _streams(count: int) -> Any:
    return (
        select(events_table.c.stream_id, events_table.c.event_type, events_table.c.schema_version)
        # The JSON as text where the driver allows, as replay() reads it.
        .add_columns(type_coerce(events_table.c.data, Text))
        .where(one_of(events_table.c.stream_id, count))
        .order_by(events_table.c.stream_id, events_table.c.version)
    )


_VERSION = select(func.max(events_table.c.version)).where(
    events_table.c.stream_id == bindparam("stream_id")
)


def _sqlite_reading(conn: AsyncConnection) -> sqlite3.Connection | None:
    return sqlite_reading(conn) if conn.dialect.name == "sqlite" else None


def _insert_on_sqlite(
    writing: sqlite3.Connection,
    dialect: Dialect,
    statements: "_Statements",
    row: dict[str, Any],
    outbox: dict[str, Any] | None,
) -> int | None:
    """Both inserts on the sqlite3 connection itself: through SQLAlchemy's execution layer
    they cost four times what SQLite does."""
    event = driver_statement(statements.event, tuple(row), dialect, _ENCODED)
    cursor = writing.execute(event.sql, event.parameters(row))
    if cursor.rowcount != 1:
        return None
    position = cursor.lastrowid
    if outbox is not None:
        outbox = outbox | {"position": position}
        insert_outbox = driver_statement(statements.outbox, tuple(outbox), dialect, _ENCODED)
        writing.execute(insert_outbox.sql, insert_outbox.parameters(outbox))
    return position


def _sqlite_position(result: Any) -> int | None:
    """The new row's position, or None when ON CONFLICT DO NOTHING left it out."""
    return result.lastrowid if result.rowcount == 1 else None


@dataclass(frozen=True)
class _Statements:
    event: Any
    outbox: Any
    event_and_outbox: Any | None  # PostgreSQL: both inserts as one statement
    returning: bool  # the event insert returns its position (else: the cursor's lastrowid)
    log_is_outbox: bool  # the relay reads public events from the events table (SQLite)


_OUTBOX_VALUES = ("subject", "headers", "payload", "created_at")


@functools.cache
def _statements(dialect: str) -> _Statements:
    """Built once per dialect: building an insert per call cost about a third of an append."""
    outbox = insert(outbox_table)
    if dialect == "sqlite":
        # No RETURNING: the cursor's rowcount says whether the row went in, its lastrowid is the
        # position (SQLite's RETURNING costs a result set per insert).
        unreturned = sqlite_insert(events_table).on_conflict_do_nothing(
            index_elements=["stream_id", "version"]
        )
        return _Statements(
            unreturned, outbox, event_and_outbox=None, returning=False, log_is_outbox=True
        )
    event = (
        postgresql_insert(events_table)
        .on_conflict_do_nothing(index_elements=["stream_id", "version"])
        .returning(events_table.c.position)
    )
    # WITH appended AS (INSERT INTO events ... ON CONFLICT DO NOTHING RETURNING position)
    # INSERT INTO outbox SELECT appended.position, :subject, ... FROM appended RETURNING position
    columns = [c for c in events_table.c if c.name != "position"]
    appended = (
        postgresql_insert(events_table)
        .values({c.name: bindparam(c.name, type_=c.type) for c in columns})
        .on_conflict_do_nothing(index_elements=["stream_id", "version"])
        .returning(events_table.c.position)
        .cte("appended")
    )
    values = [bindparam(name, type_=outbox_table.c[name].type) for name in _OUTBOX_VALUES]
    both = (
        insert(outbox_table)
        .from_select(["position", *_OUTBOX_VALUES], select(appended.c.position, *values))
        .returning(outbox_table.c.position)
    )
    return _Statements(
        event=event, outbox=outbox, event_and_outbox=both, returning=True, log_is_outbox=False
    )
