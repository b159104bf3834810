"""Append-only event store with optimistic concurrency and a transactional outbox.

append() writes the events and, for public contracts, what the relay publishes on the caller's
connection: they commit or roll back together with whatever else the caller does in that
transaction (projection updates, consumer checkpoints). On PostgreSQL that is an outbox row per
public event; on SQLite the events table is the outbox (see outbox.py) and only a bus copy that
differs from the logged event gets an outbox row. How the rows are written and read on each
database is rapport_shared.persistence.event_log's business.
"""

import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Text, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts import envelope
from rapport_shared.contracts.base import EventContract, EventRegistry
from rapport_shared.persistence import event_log
from rapport_shared.persistence.db import to_json
from rapport_shared.persistence.driver_sql import one_of, rows_among
from rapport_shared.persistence.schema import events_table
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
    log_is_outbox: bool  # the relay reads public events from the log (event_log.log_is_outbox)


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
        written = _Written(meta, to_json(meta), datetime.now(UTC), event_log.log_is_outbox(conn))
        if len(events) == 1:
            # The common case needs no savepoint: a conflict writes nothing (see _insert).
            only = await self._insert(conn, stream_id, expected_version + 1, events[0], written)
            if only is None:
                raise ConcurrencyConflict(stream_id, expected_version)
            return [only]

        # Several events: a conflict on a later one must undo the earlier ones too, and leave
        # the caller's transaction usable (a caller may skip a conflicting append and go on).
        stored: list[StoredEvent] = []
        async with event_log.all_or_nothing(conn):
            for offset, event in enumerate(events, start=1):
                inserted = await self._insert(
                    conn, stream_id, expected_version + offset, event, written
                )
                if inserted is None:
                    raise ConcurrencyConflict(stream_id, expected_version)
                stored.append(inserted)
        return stored

    async def _insert(
        self,
        conn: AsyncConnection,
        stream_id: str,
        version: int,
        event: EventContract,
        written: "_Written",
    ) -> StoredEvent | None:
        """Insert one event (and what the relay publishes of it); None when (stream_id,
        version) is taken, and then nothing was written (event_log.insert_event)."""
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
        # Where the log is the outbox (SQLite, see outbox.py), only a bus copy that the log
        # cannot give back needs a row of its own.
        if event.public and (event.transport_only or not written.log_is_outbox):
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
        position = await event_log.insert_event(conn, row, outbox)
        if position is None:
            return None
        return StoredEvent(int(position), event_id, stream_id, version, now, meta, event)

    async def load(self, conn: AsyncConnection, stream_id: str) -> list[StoredEvent]:
        rows = await event_log.stream_rows(conn, stream_id)
        return [
            StoredEvent(position, event_id, stream, version, at, meta, self._load_json(*event))
            for position, event_id, stream, version, at, meta, *event in rows
        ]

    async def load_events(self, conn: AsyncConnection, stream_id: str) -> list[EventContract]:
        """The stream's events only, as an aggregate or a decision needs them: read leaner than
        load() (three columns, nothing else built per row)."""
        rows = await event_log.stream_events(conn, stream_id)
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
        return await event_log.stream_version(conn, stream_id)

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
        # The JSON as text where the driver gives it so, else already decoded (event_log).
        if isinstance(data, str):
            contract = self.registry.contract_for(event_type)
            if schema_version == contract.schema_version:
                return contract.model_validate_json(data)
            data = json.loads(data)
        return self.registry.load(event_type, schema_version, data)  # upcasts older versions

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


@functools.cache
def _streams(count: int) -> Any:
    return (
        select(events_table.c.stream_id, events_table.c.event_type, events_table.c.schema_version)
        # The JSON as text where the driver allows, as replay() reads it.
        .add_columns(type_coerce(events_table.c.data, Text))
        .where(one_of(events_table.c.stream_id, count))
        .order_by(events_table.c.stream_id, events_table.c.version)
    )
