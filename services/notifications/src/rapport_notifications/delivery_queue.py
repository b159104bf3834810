"""Claiming due reminders for delivery.

A claim reserves a reminder for one delivery for a while (delivery_claims.claimed_until): the
scheduler never picks a claimed reminder again until its outcome is recorded (which removes the
claim) or the claim lapses (the process died mid-delivery; another attempt is then right). On
PostgreSQL, SKIP LOCKED lets replicas claim side by side without taking each other's rows; SQLite
has one writer at a time anyway (every transaction begins IMMEDIATE). The claim covers every
channel of the reminder, so each channel gets its message once.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.domain.model import ReminderStatus
from rapport_notifications.recipient_store import Contact, contact_from
from rapport_notifications.tables import delivery_claims, recipients, reminders, upsert


@dataclass(frozen=True)
class DueReminder:
    reminder_id: UUID
    contact: Contact


async def claim_due(
    conn: AsyncConnection, now: datetime, *, hold: timedelta, limit: int
) -> list[DueReminder]:
    still_claimed = (
        select(delivery_claims.c.reminder_id)
        .where(
            delivery_claims.c.reminder_id == reminders.c.reminder_id,
            delivery_claims.c.claimed_until > now,
        )
        .exists()
    )
    due = (
        select(reminders.c.reminder_id, reminders.c.clinic_id, reminders.c.recipient_id)
        .where(
            reminders.c.status == ReminderStatus.PENDING.value,
            reminders.c.next_attempt_at <= now,
            ~still_claimed,
        )
        .order_by(reminders.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=reminders, skip_locked=True)
        .subquery()
    )
    rows = (
        await conn.execute(
            select(due.c.reminder_id, recipients).outerjoin(
                recipients,
                and_(
                    recipients.c.clinic_id == due.c.clinic_id,
                    recipients.c.recipient_id == due.c.recipient_id,
                ),
            )
        )
    ).all()
    for row in rows:
        await upsert(
            conn,
            delivery_claims,
            {"reminder_id": row.reminder_id, "claimed_until": now + hold},
            key=["reminder_id"],
        )
    return [
        DueReminder(row.reminder_id, contact_from(row if row.recipient_id else None))
        for row in rows
    ]


async def release(conn: AsyncConnection, reminder_id: UUID) -> None:
    await conn.execute(delete(delivery_claims).where(delivery_claims.c.reminder_id == reminder_id))
