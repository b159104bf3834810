"""Claiming due reminders for delivery.

A claim reserves a reminder for one delivery for a while (delivery_claims.claimed_until): the
scheduler never picks a claimed reminder again until its outcome is recorded (which removes the
claim) or the claim lapses (the process died mid-delivery; another attempt is then right). On
PostgreSQL, SKIP LOCKED lets replicas claim side by side without taking each other's rows, and a
second look at the claims once the rows are locked keeps out a claim committed while the query
ran (_not_claimed_meanwhile); SQLite has one writer at a time anyway (every transaction begins
IMMEDIATE). The claim covers every channel of the reminder, so each channel gets its message
once.

What a delivery needs (the reminder's kind and facts, its channels' state, the recipient's
contact details and preferences) comes with the claim, in two queries per round.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Integer, Row, Select, and_, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.domain.events import ReminderFacts
from rapport_notifications.domain.model import ReminderStatus
from rapport_notifications.recipient_store import Contact, contact_from
from rapport_notifications.tables import (
    URGENT_KIND,
    deliveries,
    delivery_claims,
    recipients,
    reminders,
    upsert,
)
from rapport_shared.contracts.notifications import Channel, ReminderKind
from rapport_shared.persistence.db import writers_take_turns


@dataclass(frozen=True)
class DueReminder:
    reminder_id: UUID
    recipient_id: str
    client_id: str
    kind: ReminderKind
    facts: ReminderFacts
    contact: Contact
    # The channels fixed by an earlier attempt (None before the first) and those still open.
    planned: tuple[Channel, ...] | None
    open: tuple[Channel, ...]


async def claim_due(
    conn: AsyncConnection, now: datetime, *, hold: timedelta, limit: int
) -> list[DueReminder]:
    """Up to limit due reminders, claimed: the urgent ones first (a risk alert must not wait
    behind a backlog of ordinary reminders due before it), then the others by due time."""
    rows = await _due_rows(conn, _URGENT_DUE, now, limit)
    if len(rows) < limit:
        rows += await _due_rows(conn, _ORDINARY_DUE, now, limit - len(rows))
    if rows and not writers_take_turns(conn):
        rows = await _not_claimed_meanwhile(conn, rows, now)
    if not rows:
        return []
    ids = [row.reminder_id for row in rows]
    await upsert(
        conn,
        delivery_claims,
        [{"reminder_id": reminder_id, "claimed_until": now + hold} for reminder_id in ids],
        key=["reminder_id"],
    )
    # Each reminder's deliveries: (reminder_id, channel, status).
    channels: dict[UUID, list[Row[Any, Any, Any]]] = {}
    for d in await conn.execute(
        select(deliveries.c.reminder_id, deliveries.c.channel, deliveries.c.status).where(
            deliveries.c.reminder_id.in_(ids)
        )
    ):
        channels.setdefault(d.reminder_id, []).append(d)
    return [_due(row, channels.get(row.reminder_id)) for row in rows]


def _due_statement(which: ColumnElement[bool]) -> Select[Any]:
    """The due reminders of the kinds `which` selects (urgent or ordinary) not claimed by anyone,
    in due order, with their recipient's settings, locked (PostgreSQL: rows another replica has
    locked are skipped). Built once: every round, busy or idle, asks it."""
    still_claimed = (
        select(delivery_claims.c.reminder_id)
        .where(
            delivery_claims.c.reminder_id == reminders.c.reminder_id,
            delivery_claims.c.claimed_until
            > bindparam("claimed_after", type_=delivery_claims.c.claimed_until.type),
        )
        .exists()
    )
    due = (
        select(
            reminders.c.reminder_id,
            reminders.c.clinic_id.label("reminder_clinic_id"),
            reminders.c.recipient_id.label("reminder_recipient_id"),
            reminders.c.client_id.label("client_id"),
            reminders.c.kind,
            reminders.c.facts,
        )
        .where(
            reminders.c.awaiting_delivery.is_(True),
            which,
            reminders.c.next_attempt_at <= bindparam("now", type_=reminders.c.next_attempt_at.type),
            ~still_claimed,
        )
        .order_by(reminders.c.next_attempt_at)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(of=reminders, skip_locked=True)
        .subquery()
    )
    return select(due, recipients).outerjoin(
        recipients,
        and_(
            recipients.c.clinic_id == due.c.reminder_clinic_id,
            recipients.c.recipient_id == due.c.reminder_recipient_id,
        ),
    )


_URGENT_DUE = _due_statement(URGENT_KIND)
_ORDINARY_DUE = _due_statement(~URGENT_KIND)


async def _due_rows(
    conn: AsyncConnection, statement: Select[Any], now: datetime, limit: int
) -> list[Row[Any]]:
    found = await conn.execute(statement, {"now": now, "claimed_after": now, "limit": limit})
    return list(found.all())


async def _not_claimed_meanwhile(
    conn: AsyncConnection, rows: Sequence[Row[Any]], now: datetime
) -> list[Row[Any]]:
    """The rows whose claim is not current in a fresh snapshot. The query above judged the
    claims by its snapshot, taken when it began: a replica's claim that committed after that, but
    before this query locked the row, is invisible to it, and since a claim only locks the row
    (it does not update it) PostgreSQL does not re-check it either. Each statement of a READ
    COMMITTED transaction takes a fresh snapshot, and the locks now held keep newer claims out."""
    current = set(
        await conn.scalars(
            select(delivery_claims.c.reminder_id).where(
                delivery_claims.c.reminder_id.in_([row.reminder_id for row in rows]),
                delivery_claims.c.claimed_until > now,
            )
        )
    )
    return [row for row in rows if row.reminder_id not in current]


def _due(row: Row[Any], channels: list[Row[Any, Any, Any]] | None) -> DueReminder:
    return DueReminder(
        reminder_id=row.reminder_id,
        recipient_id=row.reminder_recipient_id,
        client_id=row.client_id or row.reminder_recipient_id,
        kind=row.kind,
        facts=ReminderFacts.model_validate(row.facts or {}),
        contact=contact_from(row if row.recipient_id is not None else None),
        planned=tuple(c.channel for c in channels) if channels else None,
        open=tuple(c.channel for c in channels or () if c.status == ReminderStatus.PENDING),
    )


async def release(conn: AsyncConnection, reminder_id: UUID) -> None:
    await conn.execute(delete(delivery_claims).where(delivery_claims.c.reminder_id == reminder_id))
