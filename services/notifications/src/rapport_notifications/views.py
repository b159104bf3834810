"""Read-model queries for the API: a recipient's reminders, settings and in-app feed."""

import base64
import binascii
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.domain.events import ReminderFacts
from rapport_notifications.domain.messages import render
from rapport_notifications.domain.model import ReminderStatus
from rapport_notifications.recipient_store import contact_from, load
from rapport_notifications.tables import deliveries, feed, reminders
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.errors import DomainError


class DeliveryView(BaseModel):
    channel: str
    status: str
    attempts: int
    sent_at: datetime | None = None
    failure_reason: str | None = None


class ReminderView(BaseModel):
    reminder_id: UUID
    kind: str
    due_at: datetime
    next_attempt_at: datetime
    homework_id: UUID | None
    session_id: UUID | None = None
    goal_id: UUID | None = None
    subject: str
    message: str
    attempts: int
    sent_at: datetime | None = None
    failure_reason: str | None = None
    deliveries: list[DeliveryView] = []


class RecipientReminders(BaseModel):
    recipient_id: str
    pending: list[ReminderView]
    sent: list[ReminderView]
    cancelled: list[ReminderView]
    failed: list[ReminderView]


class QuietHoursView(BaseModel):
    start: str
    end: str


class RecipientView(BaseModel):
    recipient_id: str
    email: str | None
    time_zone: str
    quiet_hours: QuietHoursView | None
    # The URL only: the signing secret is never shown again.
    webhook_url: str | None
    preferences: dict[str, list[str]]


class FeedItem(BaseModel):
    item_id: UUID
    kind: str
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None


class FeedPage(BaseModel):
    recipient_id: str
    items: list[FeedItem]
    unread: int
    # Pass as `before` for the next (older) page; None on the last page.
    next: str | None


def recipient_view(recipient_id: str, row: Row[Any]) -> RecipientView:
    quiet = None
    if row.quiet_start and row.quiet_end:
        quiet = QuietHoursView(start=row.quiet_start, end=row.quiet_end)
    return RecipientView(
        recipient_id=recipient_id,
        email=row.email,
        time_zone=row.time_zone,
        quiet_hours=quiet,
        webhook_url=row.webhook_url,
        preferences=row.preferences or {},
    )


async def reminders_of(
    conn: AsyncConnection, clinic_id: str, recipient_id: str
) -> RecipientReminders:
    zone = contact_from(await load(conn, clinic_id, recipient_id)).profile.zone
    rows = (
        await conn.execute(
            select(reminders)
            .where(reminders.c.clinic_id == clinic_id, reminders.c.recipient_id == recipient_id)
            .order_by(reminders.c.due_at, reminders.c.reminder_id)
        )
    ).all()
    by_reminder: dict[UUID, list[DeliveryView]] = {}
    ids = [row.reminder_id for row in rows]
    for d in await conn.execute(
        select(deliveries).where(deliveries.c.reminder_id.in_(ids)).order_by(deliveries.c.channel)
    ):
        by_reminder.setdefault(d.reminder_id, []).append(
            DeliveryView(
                channel=d.channel,
                status=d.status,
                attempts=d.attempts,
                sent_at=d.sent_at and to_utc(d.sent_at),
                failure_reason=d.failure_reason,
            )
        )
    by_status: dict[str, list[ReminderView]] = {status.value: [] for status in ReminderStatus}
    for row in rows:
        facts = ReminderFacts.model_validate(row.facts or {})
        message = render(row.kind, facts, row.client_id or recipient_id, zone)
        by_status[row.status].append(
            ReminderView(
                reminder_id=row.reminder_id,
                kind=row.kind,
                due_at=to_utc(row.due_at),
                next_attempt_at=to_utc(row.next_attempt_at),
                homework_id=row.homework_id,
                session_id=row.session_id,
                goal_id=row.goal_id,
                subject=message.subject,
                message=message.body,
                attempts=row.attempts,
                sent_at=row.sent_at and to_utc(row.sent_at),
                failure_reason=row.failure_reason,
                deliveries=by_reminder.get(row.reminder_id, []),
            )
        )
    return RecipientReminders(recipient_id=recipient_id, **by_status)


def _cursor(created_at: datetime, item_id: UUID) -> str:
    raw = f"{to_utc(created_at).isoformat()}|{item_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        moment, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return to_utc(datetime.fromisoformat(moment)), UUID(item_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise DomainError("not a cursor from a previous page", field="before") from None


async def feed_of(
    conn: AsyncConnection, clinic_id: str, recipient_id: str, limit: int, before: str | None
) -> FeedPage:
    """Newest first; `before` continues after the last item of the previous page. The cursor is
    (created_at, item_id), so items created in the same instant are neither lost nor repeated."""
    mine = and_(feed.c.clinic_id == clinic_id, feed.c.recipient_id == recipient_id)
    query = select(feed).where(mine)
    if before is not None:
        created_at, item_id = _parse_cursor(before)
        query = query.where(
            or_(
                feed.c.created_at < created_at,
                and_(feed.c.created_at == created_at, feed.c.item_id < item_id),
            )
        )
    rows = (
        await conn.execute(
            query.order_by(feed.c.created_at.desc(), feed.c.item_id.desc()).limit(limit + 1)
        )
    ).all()
    unread = await conn.scalar(select(func.count()).where(mine, feed.c.read_at.is_(None)))
    page = rows[:limit]
    return FeedPage(
        recipient_id=recipient_id,
        items=[
            FeedItem(
                item_id=row.item_id,
                kind=row.kind,
                subject=row.subject,
                body=row.body,
                created_at=to_utc(row.created_at),
                read_at=row.read_at and to_utc(row.read_at),
            )
            for row in page
        ],
        unread=unread or 0,
        next=_cursor(page[-1].created_at, page[-1].item_id) if len(rows) > limit else None,
    )
