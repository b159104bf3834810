"""Claiming due reminders for delivery.

A claim reserves a reminder for one delivery for a while (delivery_claims.claimed_until): the
scheduler never picks a claimed reminder again until its outcome is recorded (which removes the
claim) or the claim lapses (the process died mid-delivery; another attempt is then right). On
PostgreSQL, SKIP LOCKED lets replicas claim side by side without taking each other's rows; SQLite
has one writer at a time anyway (every transaction begins IMMEDIATE).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.domain.model import ReminderStatus
from rapport_notifications.tables import delivery_claims, recipients, reminders, upsert
from rapport_shared.contracts.notifications import ReminderKind


@dataclass(frozen=True)
class DueReminder:
    reminder_id: UUID
    kind: ReminderKind
    message: str
    email: str | None


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
    email = (
        select(recipients.c.email)
        .where(
            and_(
                recipients.c.clinic_id == reminders.c.clinic_id,
                recipients.c.recipient_id == reminders.c.recipient_id,
            )
        )
        .scalar_subquery()
        .label("email")
    )
    rows = (
        await conn.execute(
            select(reminders.c.reminder_id, reminders.c.kind, reminders.c.message, email)
            .where(
                reminders.c.status == ReminderStatus.PENDING.value,
                reminders.c.next_attempt_at <= now,
                ~still_claimed,
            )
            .order_by(reminders.c.next_attempt_at)
            .limit(limit)
            .with_for_update(of=reminders, skip_locked=True)
        )
    ).all()
    for row in rows:
        await upsert(
            conn,
            delivery_claims,
            {"reminder_id": row.reminder_id, "claimed_until": now + hold},
            key=["reminder_id"],
        )
    return [DueReminder(row.reminder_id, row.kind, row.message, row.email) for row in rows]
