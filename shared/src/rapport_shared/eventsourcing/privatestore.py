"""The event store of a service that keeps clinical free text: encrypts on append, decrypts on
load.

append() encrypts each event's free-text fields (EventContract.encrypted_fields) under its
client's key before it is written, and returns the stored, encrypted events: projections copy
the tokens into their tables without reading them. load() and load_events() hand an aggregate
its stream with the text readable again (an erased client's as empty). read_all() stays as it
is, encrypted, for projection rebuilds; a temporal view decrypts what it shows with decrypt().
"""

import dataclasses
from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts.base import EventContract, EventRegistry
from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.eventsourcing.eventstore import EventStore, StoredEvent
from rapport_shared.telemetry.context import EventMetadata


class PrivateEventStore(EventStore):
    def __init__(self, registry: EventRegistry, seal_key: bytes) -> None:
        super().__init__(registry)
        self.keys = KeyRing()
        # The suite key that seals plan wording for the bus (crypto.seal).
        self.seal_key = seal_key

    async def append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventContract],
        metadata: EventMetadata | None = None,
    ) -> list[StoredEvent]:
        encrypted = [await self.keys.encrypt_event(conn, event) for event in events]
        return await super().append(conn, stream_id, expected_version, encrypted, metadata)

    async def load(self, conn: AsyncConnection, stream_id: str) -> list[StoredEvent]:
        stored = await super().load(conn, stream_id)
        events = await self.keys.decrypt_events(conn, [each.event for each in stored])
        return [
            each if event is each.event else dataclasses.replace(each, event=event)
            for each, event in zip(stored, events, strict=True)
        ]

    async def load_events(self, conn: AsyncConnection, stream_id: str) -> list[EventContract]:
        return await self.keys.decrypt_events(conn, await super().load_events(conn, stream_id))

    async def load_streams(
        self, conn: AsyncConnection, stream_ids: Iterable[str]
    ) -> dict[str, list[EventContract]]:
        loaded = await super().load_streams(conn, stream_ids)
        return {
            stream: await self.keys.decrypt_events(conn, events)
            for stream, events in loaded.items()
        }

    async def decrypt(self, conn: AsyncConnection, stored: StoredEvent) -> StoredEvent:
        event = await self.keys.decrypt_event(conn, stored.event)
        return stored if event is stored.event else dataclasses.replace(stored, event=event)
