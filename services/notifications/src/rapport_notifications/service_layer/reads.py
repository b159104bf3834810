"""What the handlers read while one transaction lasts: streams' histories (`Reads`) and whether
clients are erased (`Erasures`), read once and then kept up to date by the handlers' own writes.

A consumer's batch reads them for all of its events up front, with one query each (`preload`):
per event, a history and an erasure lookup through SQLAlchemy were about a third of what the
service spent on it. Each lives for one transaction only; a fresh one reads on demand, as a
single event or a delivery needs.
"""

from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts.base import EventContract
from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.eventsourcing.eventstore import EventStore


class Reads:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._histories: dict[str, list[EventContract]] = {}

    async def preload(self, conn: AsyncConnection, streams: Iterable[str]) -> None:
        """Read these streams' histories at once."""
        wanted = set(streams) - set(self._histories)
        if wanted:
            self._histories.update(await self.store.load_streams(conn, wanted))

    async def history(self, conn: AsyncConnection, stream: str) -> list[EventContract]:
        """The stream's events (a copy: the caller may extend it)."""
        if stream not in self._histories:
            self._histories[stream] = await self.store.load_events(conn, stream)
        return list(self._histories[stream])

    async def append(
        self,
        conn: AsyncConnection,
        stream: str,
        history: Sequence[EventContract],
        events: Sequence[EventContract],
    ) -> None:
        """Append events after history (raises ConcurrencyConflict as the store does), and
        remember the stream as it now is."""
        await self.store.append(conn, stream, len(history), events)
        self._histories[stream] = [*history, *events]


class Erasures:
    """Which clients are erased: the service's key ring's tombstones, as in every service."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys
        self._erased: dict[tuple[str, str], bool] = {}

    async def preload(self, conn: AsyncConnection, clients: Iterable[tuple[str, str]]) -> None:
        """Read whether these (clinic, client) pairs are erased at once."""
        wanted = set(clients) - set(self._erased)
        if wanted:
            found = await self.keys.erased_among(conn, wanted)
            self._erased.update((client, client in found) for client in wanted)

    async def is_erased(self, conn: AsyncConnection, clinic_id: str, client_id: str) -> bool:
        client = (clinic_id, client_id)
        if client not in self._erased:
            self._erased[client] = await self.keys.is_erased(conn, clinic_id, client_id)
        return self._erased[client]

    def erased(self, clinic_id: str, client_id: str) -> None:
        """The client was just erased in this transaction."""
        self._erased[(clinic_id, client_id)] = True
