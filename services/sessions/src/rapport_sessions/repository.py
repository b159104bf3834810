"""Sessions are stored as their event streams: loading replays a stream into the aggregate;
saving appends the new events at the version it was loaded at (optimistic concurrency) and
updates the notes projection in the same transaction."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions.domain.model import Session, stream_id
from rapport_sessions.projections import project
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.history import found
from rapport_shared.contracts.sessions import SessionScheduled
from rapport_shared.eventsourcing.eventstore import EventStore


async def load(
    conn: AsyncConnection, store: EventStore, clinic_id: str, session_id: UUID
) -> Session:
    history = await store.load_events(conn, stream_id(session_id))
    return Session.from_history(
        found(history, SessionScheduled, clinic_id, name="session", aggregate_id=session_id)
    )


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
