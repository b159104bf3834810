"""Erasure of a client (client-erased): every row about them leaves this service's tables —
their contact details and preferences, reminders to them or about them (a counselor's unsigned
note or alliance alert), those reminders' deliveries, claims and error details, and their feed.
Their key is destroyed as in every service (security.erasure.shred): the answers it sealed for
Idempotency-Key replays are dropped, its row stays as the tombstone that makes later events
about them schedule nothing and keeps a rebuild from bringing their reminders back, and once
the erasure commits the SQLite WAL is cleared of the old pages.

The event store keeps its events (codes, ids and times, no free text or address).
"""

from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.tables import (
    deliveries,
    delivery_claims,
    delivery_errors,
    feed,
    recipients,
    reminders,
)
from rapport_shared.eventsourcing.crypto import KeyRing, client_keys
from rapport_shared.security.erasure import shred


async def erased_clients(conn: AsyncConnection) -> set[tuple[str, str]]:
    """Every erased (clinic, client): the key ring's tombstones, all at once for a rebuild."""
    rows = await conn.execute(
        select(client_keys.c.clinic_id, client_keys.c.client_id).where(
            client_keys.c.erased_at.is_not(None)
        )
    )
    return {(clinic_id, client_id) for clinic_id, client_id in rows}


async def purge(
    conn: AsyncConnection, keys: KeyRing, clinic_id: str, client_id: str, now: datetime
) -> None:
    await shred(conn, keys, clinic_id, client_id, now)
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
