"""The event log's rows on each database: how an append writes an event (and its outbox row) and
how a stream is read back. The event store (rapport_shared.eventsourcing.eventstore) says what
to write and what it wants read; this module decides how, per dialect and driver.

Why not through SQLAlchemy's execution layer: an append is two small inserts, and building,
compiling and executing them there cost several times what the database does (four times on
SQLite), and every command and consumer loads a stream each time it decides. So the statements
are built once per dialect, compiled once per shape (db.driver_statement) and sent to the
driver inside the caller's transaction:
- SQLite: inside the engine's write transaction, on the sqlite3 connection itself (its rowcount
  tells a conflict, its lastrowid is the position: SQLite's RETURNING costs a result set per
  insert). The events table is the outbox there (messaging.outbox): only a bus copy that differs
  from the logged event gets an outbox row.
- PostgreSQL: the event and its outbox row in one statement (a CTE), one round trip, on asyncpg
  when the transaction is open on it.
- Anything else (a read-only connection, another driver): the same compiled statements through
  exec_driver_sql.
"""

import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.persistence.db import (
    driver_statement,
    sqlite_reading,
    sqlite_time,
    sqlite_writing,
    writers_take_turns,
)
from rapport_shared.persistence.postgres_engine import postgres_driver
from rapport_shared.persistence.schema import events_table, outbox_table

# The JSON columns of the two inserts: the caller gives them as JSON text, made once per event.
JSON_AS_TEXT = frozenset({"data", "metadata", "headers"})


def log_is_outbox(bind: AsyncConnection | AsyncEngine) -> bool:
    """Whether the relay reads public events from the events table itself (where writers take
    turns, positions grow in commit order and a cursor never passes a later commit) or from
    outbox rows (PostgreSQL: transactions commit out of position order)."""
    return writers_take_turns(bind)


async def insert_event(
    conn: AsyncConnection, row: dict[str, Any], outbox: dict[str, Any] | None
) -> int | None:
    """Insert an event's row (and, with outbox, its outbox row) in conn's transaction: its
    position, or None when (stream_id, version) is taken, and then nothing is written.

    ON CONFLICT DO NOTHING instead of catching the unique violation: no savepoint is needed to
    keep the caller's transaction usable after a conflict (PostgreSQL aborts a transaction on
    any error), which saves two round trips per append."""
    statements = _statements(conn.dialect.name)
    position: int | None
    if outbox is not None and statements.event_and_outbox is not None:
        # One round trip for both rows; no outbox row when the event was not inserted.
        both = row | outbox
        if (driver := await postgres_driver(conn)) is not None:
            compiled = driver_statement(
                statements.event_and_outbox, tuple(both), conn.dialect, JSON_AS_TEXT
            )
            position = await driver.fetchval(compiled.sql, *compiled.parameters(both))
        else:
            position = (await _execute(conn, statements.event_and_outbox, both)).scalar()
    elif (writing := sqlite_writing(conn)) is not None:
        position = _insert_on_sqlite(writing, conn, statements, row, outbox)
    else:
        result = await _execute(conn, statements.event, row)
        position = result.scalar() if statements.returning else _sqlite_position(result)
        if position is not None and outbox is not None:
            await _execute(conn, statements.outbox, outbox | {"position": position})
    return position


@contextlib.asynccontextmanager
async def all_or_nothing(conn: AsyncConnection) -> AsyncIterator[None]:
    """A savepoint around the block: what it wrote is undone if it raises, and conn's
    transaction stays usable (a caller may skip a conflicting append and go on)."""
    if (writing := sqlite_writing(conn)) is not None:
        # The inserts go to the driver (insert_event): so does their savepoint.
        writing.execute("SAVEPOINT rapport_append")
        try:
            yield
        except BaseException:
            writing.execute("ROLLBACK TO rapport_append")
            writing.execute("RELEASE rapport_append")
            raise
        writing.execute("RELEASE rapport_append")
        return
    async with conn.begin_nested():  # rolled back by the exception
        yield


async def stream_rows(conn: AsyncConnection, stream_id: str) -> Sequence[Any]:
    """A stream's rows in version order, each (position, event_id, stream_id, version,
    occurred_at, metadata, event_type, schema_version, data): occurred_at an aware datetime,
    metadata a dict, data the event's JSON as text or as a dict (as the driver gives it)."""
    if conn.dialect.name == "sqlite":
        rows = sqlite_reading(conn).execute(_LOAD_ON_SQLITE, (stream_id,)).fetchall()
        return [
            (position, event_id, stream, version, sqlite_time(at), from_json(meta), *event)
            for position, event_id, stream, version, at, meta, *event in rows
        ]
    return (await conn.execute(_LOAD, {"stream_id": stream_id})).all()


async def stream_events(conn: AsyncConnection, stream_id: str) -> Sequence[Any]:
    """A stream's (event_type, schema_version, data) in version order: what an aggregate or a
    decision needs, read leaner than stream_rows. data as in stream_rows."""
    if conn.dialect.name == "sqlite":
        return sqlite_reading(conn).execute(_EVENTS_ON_SQLITE, (stream_id,)).fetchall()
    return (await conn.execute(_EVENTS, {"stream_id": stream_id})).all()


async def stream_version(conn: AsyncConnection, stream_id: str) -> int:
    """The stream's last version, 0 for a stream with no events."""
    if conn.dialect.name == "sqlite":
        return int(
            sqlite_reading(conn).execute(_VERSION_ON_SQLITE, (stream_id,)).fetchone()[0] or 0
        )
    return int((await conn.execute(_VERSION, {"stream_id": stream_id})).scalar_one() or 0)


async def first_client(conn: AsyncConnection, stream_id: str) -> tuple[str, str | None] | None:
    """(clinic_id, the data's client_id) of the stream's first event; None when there is no
    such stream. Sent as SQL of the dialect straight to exec_driver_sql: through SQLAlchemy's
    execution layer (cache key, compiled-cache lookup, result processing) and with the whole
    event's JSON parsed, this lookup cost several times the query."""
    sql = _FIRST_CLIENT[conn.dialect.name]
    row: Any = (await conn.exec_driver_sql(sql, (stream_id,))).first()
    return None if row is None else (row[0], row[1])


async def waiting_in_log(conn: AsyncConnection, after: int, limit: int) -> list[Any]:
    """Where the log is the outbox: up to limit events past `after` and the saved cursor, in
    position order, each (position, event_id, stream_id, event_type, schema_version, clinic_id,
    occurred_at, data, metadata, subject, headers, payload) as SQLite stores them (the time and
    the JSON as text), the last three those of the event's outbox row (its bus copy) or None.
    Read on SQLite's own connection: SQLAlchemy's execution layer cost more than the read."""
    return sqlite_reading(conn).execute(_WAITING_IN_LOG, (after, limit)).fetchall()


async def pass_log_outbox(conn: AsyncConnection, reached: int) -> None:
    """Where the log is the outbox, in a write transaction: the saved cursor moves up to
    `reached` (never back), and the bus copies up to it are forgotten."""
    writing = sqlite_reading(conn)  # the write transaction's own connection
    writing.execute(_ADVANCE_CURSOR, (reached,))
    writing.execute(_FORGET_UP_TO, (reached,))


async def _execute(conn: AsyncConnection, statement: Any, row: dict[str, Any]) -> Any:
    """Execute a prebuilt insert with one row through SQLAlchemy's connection, compiled once."""
    compiled = driver_statement(statement, tuple(row), conn.dialect, JSON_AS_TEXT)
    return await conn.exec_driver_sql(compiled.sql, compiled.parameters(row))


def _insert_on_sqlite(
    writing: sqlite3.Connection,
    conn: AsyncConnection,
    statements: "_Statements",
    row: dict[str, Any],
    outbox: dict[str, Any] | None,
) -> int | None:
    """Both inserts on the sqlite3 connection itself: through SQLAlchemy's execution layer
    they cost four times what SQLite does."""
    event = driver_statement(statements.event, tuple(row), conn.dialect, JSON_AS_TEXT)
    cursor = writing.execute(event.sql, event.parameters(row))
    if cursor.rowcount != 1:
        return None
    position = cursor.lastrowid
    if outbox is not None:
        outbox = outbox | {"position": position}
        insert_outbox = driver_statement(
            statements.outbox, tuple(outbox), conn.dialect, JSON_AS_TEXT
        )
        writing.execute(insert_outbox.sql, insert_outbox.parameters(outbox))
    return position


def _sqlite_position(result: Any) -> int | None:
    """The new row's position, or None when ON CONFLICT DO NOTHING left it out."""
    position: int | None = result.lastrowid if result.rowcount == 1 else None
    return position


# A stream's rows, read on SQLite's own connection: through SQLAlchemy's execution layer
# (statement, result rows, a JSON and a datetime processor per value) a load of a few events
# cost four times what SQLite and decoding them do.
_LOAD_ON_SQLITE = (
    "SELECT position, event_id, stream_id, version, occurred_at, metadata, event_type,"
    " schema_version, data FROM events WHERE stream_id = ? ORDER BY version"
)
_EVENTS_ON_SQLITE = (
    "SELECT event_type, schema_version, data FROM events WHERE stream_id = ? ORDER BY version"
)
_VERSION_ON_SQLITE = "SELECT max(version) FROM events WHERE stream_id = ?"
_WAITING_IN_LOG = """
SELECT e.position, e.event_id, e.stream_id, e.event_type, e.schema_version, e.clinic_id,
       e.occurred_at, e.data, e.metadata, o.subject, o.headers, o.payload
FROM events AS e LEFT OUTER JOIN outbox AS o ON o.position = e.position
WHERE e.position > max(?, coalesce((SELECT position FROM outbox_cursor), 0))
ORDER BY e.position LIMIT ?"""
_ADVANCE_CURSOR = """
INSERT INTO outbox_cursor (id, position) VALUES (1, ?)
ON CONFLICT (id) DO UPDATE SET position = max(position, excluded.position)"""
_FORGET_UP_TO = "DELETE FROM outbox WHERE position <= ?"
_FIRST_CLIENT = {
    "sqlite": "SELECT clinic_id, json_extract(data, '$.client_id') FROM events"
    " WHERE stream_id = ? AND version = 1",
    "postgresql": "SELECT clinic_id, data ->> 'client_id' FROM events"
    " WHERE stream_id = $1 AND version = 1",
}
_e = events_table.c
_LOAD = (
    select(
        _e.position,
        _e.event_id,
        _e.stream_id,
        _e.version,
        _e.occurred_at,
        _e.metadata,
        _e.event_type,
        _e.schema_version,
        _e.data,
    )
    .where(_e.stream_id == bindparam("stream_id"))
    .order_by(_e.version)
)
_EVENTS = (
    select(_e.event_type, _e.schema_version, _e.data)
    .where(_e.stream_id == bindparam("stream_id"))
    .order_by(_e.version)
)
_VERSION = select(func.max(_e.version)).where(_e.stream_id == bindparam("stream_id"))


@dataclass(frozen=True)
class _Statements:
    event: Any
    outbox: Any
    event_and_outbox: Any | None  # PostgreSQL: both inserts as one statement
    returning: bool  # the event insert returns its position (else: the cursor's lastrowid)


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
        return _Statements(unreturned, outbox, event_and_outbox=None, returning=False)
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
    return _Statements(event=event, outbox=outbox, event_and_outbox=both, returning=True)
