"""Erasure of a client (client-erased): every row about them leaves this service's tables —
their contact details and preferences, reminders to them or about them (a counselor's unsigned
note or alliance alert), those reminders' deliveries, claims and error details, and their feed.
What remains is a hash marking them erased, so later events about them schedule nothing.
Their key (which seals the answers kept for Idempotency-Key replays) is destroyed and those
answers dropped, and once the erasure commits the SQLite WAL is cleared of the old pages.

The event store keeps its events (codes, ids and times, no free text or address).
"""

import hashlib
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.tables import (
    deliveries,
    delivery_claims,
    delivery_errors,
    erased_clients,
    feed,
    recipients,
    reminders,
    upsert,
)
from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.persistence.db import erase_on_commit
from rapport_shared.web.idempotency.store import forget_client


def client_key(clinic_id: str, client_id: str) -> str:
    return hashlib.sha256(f"{clinic_id}/{client_id}".encode()).hexdigest()


async def is_erased(conn: AsyncConnection, clinic_id: str, client_id: str) -> bool:
    key = client_key(clinic_id, client_id)
    found = await conn.execute(
        select(erased_clients.c.client_key).where(erased_clients.c.client_key == key)
    )
    return found.first() is not None


async def erased_keys(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(select(erased_clients.c.client_key))).scalars())


async def purge(conn: AsyncConnection, clinic_id: str, client_id: str, now: datetime) -> None:
    await upsert(
        conn,
        erased_clients,
        {"client_key": client_key(clinic_id, client_id), "erased_at": now},
        key=["client_key"],
    )
    await KeyRing().destroy(conn, clinic_id, client_id, now)
    await forget_client(conn, clinic_id, client_id)
    erase_on_commit(conn)
    theirs = select(reminders.c.reminder_id).where(
        reminders.c.clinic_id == clinic_id,
        or_(reminders.c.client_id == client_id, reminders.c.recipient_id == client_id),
    )
    ids = list((await conn.execute(theirs)).scalars())
    for table in (deliveries, delivery_claims, delivery_errors):
        await conn.execute(delete(table).where(table.c.reminder_id.in_(ids)))
    await conn.execute(
        delete(delivery_errors).where(
            delivery_errors.c.clinic_id == clinic_id, delivery_errors.c.recipient_id == client_id
        )
    )
    await conn.execute(delete(reminders).where(reminders.c.reminder_id.in_(ids)))
    await conn.execute(
        delete(feed).where(
            feed.c.clinic_id == clinic_id,
            or_(feed.c.client_id == client_id, feed.c.recipient_id == client_id),
        )
    )
    await conn.execute(
        delete(recipients).where(
            recipients.c.clinic_id == clinic_id, recipients.c.recipient_id == client_id
        )
    )
