"""What the handlers read while one transaction lasts: streams' histories and whether clients are
erased, read once and then kept up to date by the handlers' own writes.

A consumer's batch reads them for all of its events up front, with one query each
(`Reads.preload`): per event, a history and an erasure lookup through SQLAlchemy were about a
third of what the service spent on it. A Reads lives for one transaction only; a fresh one reads
on demand, as a single event or a delivery needs.
"""

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications import erasure
from rapport_notifications.tables import erased_clients
from rapport_shared.contracts.base import EventContract
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.persistence.driver_sql import one_of, rows_among


class Reads:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._histories: dict[str, list[EventContract]] = {}
        self._erased: dict[str, bool] = {}  # by erasure.client_key

    async def preload(
        self,
        conn: AsyncConnection,
        streams: Iterable[str],
        clients: Iterable[tuple[str, str]],
    ) -> None:
        """Read these streams' histories and these (clinic, client) pairs' erasure at once."""
        wanted = set(streams) - set(self._histories)
        if wanted:
            self._histories.update(await self.store.load_streams(conn, wanted))
        keys = {erasure.client_key(clinic, client) for clinic, client in clients}
        keys -= set(self._erased)
        if keys:
            rows = await rows_among(conn, _erased_among, sorted(keys), {})
            found = {key for (key,) in rows}
            self._erased.update((key, key in found) for key in keys)

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

    async def is_erased(self, conn: AsyncConnection, clinic_id: str, client_id: str) -> bool:
        key = erasure.client_key(clinic_id, client_id)
        if key not in self._erased:
            self._erased[key] = await erasure.is_erased(conn, clinic_id, client_id)
        return self._erased[key]

    def erased(self, clinic_id: str, client_id: str) -> None:
        """The client was just erased in this transaction."""
        self._erased[erasure.client_key(clinic_id, client_id)] = True


@functools.cache
def _erased_among(count: int) -> Any:
    return select(erased_clients.c.client_key).where(one_of(erased_clients.c.client_key, count))
