"""Read-model queries for the API."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.domain.model import ReminderStatus
from rapport_notifications.tables import as_utc, reminders


class ReminderView(BaseModel):
    reminder_id: UUID
    kind: str
    due_at: datetime
    homework_id: UUID | None
    message: str
    attempts: int
    sent_at: datetime | None = None
    failure_reason: str | None = None


class RecipientReminders(BaseModel):
    recipient_id: str
    pending: list[ReminderView]
    sent: list[ReminderView]
    cancelled: list[ReminderView]
    failed: list[ReminderView]


async def reminders_of(
    conn: AsyncConnection, clinic_id: str, recipient_id: str
) -> RecipientReminders:
    rows = await conn.execute(
        select(reminders)
        .where(reminders.c.clinic_id == clinic_id, reminders.c.recipient_id == recipient_id)
        .order_by(reminders.c.due_at, reminders.c.reminder_id)
    )
    by_status: dict[str, list[ReminderView]] = {status.value: [] for status in ReminderStatus}
    for row in rows:
        by_status[row.status].append(
            ReminderView(
                reminder_id=row.reminder_id,
                kind=row.kind,
                due_at=as_utc(row.due_at),
                homework_id=row.homework_id,
                message=row.message,
                attempts=row.attempts,
                sent_at=row.sent_at and as_utc(row.sent_at),
                failure_reason=row.failure_reason,
            )
        )
    return RecipientReminders(recipient_id=recipient_id, **by_status)
