"""Sessions are stored as their event streams: loading replays a stream into the aggregate;
saving appends the new events at the version it was loaded at (optimistic concurrency) and
updates the notes projection in the same transaction."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pydantic_core
from sqlalchemy import Text, bindparam, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions import direct
from rapport_sessions.domain.model import Session, stream_id
from rapport_sessions.projections import project
from rapport_shared.contracts.base import EventContract
from rapport_shared.errors import NotFound
from rapport_shared.eventstore import EventStore
from rapport_shared.privatestore import PrivateEventStore
from rapport_shared.schema import events_table


async def load(
    conn: AsyncConnection, store: EventStore, clinic_id: str, session_id: UUID
) -> Session:
    history = await load_events(conn, store, stream_id(session_id))
    # Another clinic's session is exactly as unknown as a missing one.
    if not history or history[0].clinic_id != clinic_id:
        raise NotFound(f"no session {session_id} in clinic {clinic_id}", field="session_id")
    return Session.from_history(history)


# Only what the aggregate needs of its stream: the events, not their rows' other columns.
_STREAM = (
    select(events_table.c.event_type, events_table.c.schema_version)
    # The JSON as text where the driver allows: pydantic parses and validates it in one step.
    .add_columns(type_coerce(events_table.c.data, Text))
    .where(events_table.c.stream_id == bindparam("stream_id"))
    .order_by(events_table.c.version)
)


async def load_events(conn: AsyncConnection, store: EventStore, stream: str) -> list[EventContract]:
    """The stream's events as store.load() gives them (decrypted by a PrivateEventStore), read
    leaner: every command loads its session, and store.load's statement through SQLAlchemy and
    the full rows it builds were about a tenth of a close-session's CPU."""
    rows = await direct.fetch_all(conn, _STREAM, {"stream_id": stream})
    events = [_event(store, kind, schema, data) for kind, schema, data in rows]
    if isinstance(store, PrivateEventStore):
        events = await store.keys.decrypt_events(conn, events)
    return events


def _event(store: EventStore, event_type: str, schema_version: int, data: Any) -> EventContract:
    # SQLite gives the column back as text; asyncpg decodes JSON itself.
    if isinstance(data, str):
        contract = store.registry.contract_for(event_type)
        if schema_version == contract.schema_version:
            return contract.model_validate_json(data)
        data = pydantic_core.from_json(data)  # as the engine's JSON columns decode it
    return store.registry.load(event_type, schema_version, data)  # upcasts older versions


async def exists(conn: AsyncConnection, store: EventStore, session_id: UUID) -> bool:
    return await store.stream_version(conn, stream_id(session_id)) > 0


async def save(
    conn: AsyncConnection,
    store: EventStore,
    session_id: UUID,
    expected_version: int,
    events: Sequence[EventContract],
) -> None:
    await append(conn, store, stream_id(session_id), expected_version, events)


async def append(
    conn: AsyncConnection,
    store: EventStore,
    stream: str,
    expected_version: int,
    events: Sequence[EventContract],
) -> None:
    """Append to any of this service's streams and project what was stored (free text as the
    store keeps it: encrypted), in the caller's transaction."""
    for stored in await store.append(conn, stream, expected_version, events):
        await project(conn, stored.event)
