"""Events published by the notifications service."""

from typing import ClassVar, Literal
from uuid import UUID

from rapport_shared.contracts.base import AwareDatetime, EventContract, PersonId

ReminderKind = Literal["homework-due", "recognition"]


class ReminderScheduled(EventContract):
    event_type: ClassVar[str] = "reminder-scheduled"
    service: ClassVar[str] = "notifications"

    reminder_id: UUID
    recipient_id: PersonId
    kind: ReminderKind
    due_at: AwareDatetime
    homework_id: UUID | None = None


class ReminderCancelled(EventContract):
    event_type: ClassVar[str] = "reminder-cancelled"
    service: ClassVar[str] = "notifications"

    reminder_id: UUID
    recipient_id: PersonId
    cancelled_at: AwareDatetime
    reason: Literal["homework-completed"]


class ReminderSent(EventContract):
    event_type: ClassVar[str] = "reminder-sent"
    service: ClassVar[str] = "notifications"

    reminder_id: UUID
    recipient_id: PersonId
    channel: Literal["email"]
    sent_at: AwareDatetime


class ReminderFailed(EventContract):
    event_type: ClassVar[str] = "reminder-failed"
    service: ClassVar[str] = "notifications"

    reminder_id: UUID
    recipient_id: PersonId
    channel: Literal["email"]
    failed_at: AwareDatetime
    reason: str


NOTIFICATIONS_CONTRACTS: tuple[type[EventContract], ...] = (
    ReminderScheduled,
    ReminderCancelled,
    ReminderSent,
    ReminderFailed,
)
