"""Appending a service's own events: the store and the read model in one go, in the caller's
transaction (so the read model never lags the log)."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals import projections
from rapport_shared.contracts.base import EventContract
from rapport_shared.eventsourcing.eventstore import EventStore


async def record(
    conn: AsyncConnection,
    store: EventStore,
    stream_id: str,
    expected_version: int,
    events: Sequence[EventContract],
) -> None:
    """Append and project in one go: the read model is part of the same transaction."""
    for stored in await store.append(conn, stream_id, expected_version, events):
        await projections.apply(conn, stored)
