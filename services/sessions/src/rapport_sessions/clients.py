"""A client's own stream in the sessions store: their profile (name) and their erasure."""

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions.domain.events import ClientProfileUpdated
from rapport_shared.eventsourcing.privatestore import PrivateEventStore


def client_stream(clinic_id: str, client_id: str) -> str:
    return f"client-{clinic_id}-{client_id}"


async def profile(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str
) -> ClientProfileUpdated | None:
    """The latest profile (its name decrypted, or empty once erased); None if none was given."""
    latest = None
    for event in await store.load_events(conn, client_stream(clinic_id, client_id)):
        if isinstance(event, ClientProfileUpdated):
            latest = event
    return latest
