"""Events published by the notifications service.

They carry codes, ids and times only: the words sent to a recipient, their addresses and the text
of a delivery error stay in the notifications service.
"""

from typing import ClassVar, Literal
from uuid import UUID

from rapport_shared.contracts.base import AwareDatetime, EventContract, PersonId

ReminderKind = Literal[
    "homework-due",
    "recognition",
    "next-session",
    "goal-review",
    "unsigned-note",
    "alliance-alert",
    "plan-item-refused",
    # A risk flag (PHQ-9 item 9): sent at once on every channel, quiet hours or not.
    "risk-alert",
    # A measure the client is asked to fill in (measure-requested), at the ask's time.
    "measure-due",
]
Channel = Literal["email", "webhook", "feed"]
CancellationReason = Literal[
    "homework-completed",
    "homework-cancelled",
    "homework-missed",
    "session-cancelled",
    "note-signed",
    "goal-closed",
    "goal-revised",
    # The measure it asked for arrived, was missed at its deadline or was withdrawn.
    "measure-ask-closed",
    "opted-out",
    "client-erased",
]
# Why a delivery failed for good; the detailed error text (which may name an address) stays in
# the notifications service.
FailureReason = Literal[
    "smtp-rejected",
    "smtp-unreachable",
    # Every webhook failure; the two codes after it are those of events recorded before.
    "webhook-failed",
    "webhook-http-error",
    "webhook-unreachable",
    "no-address",
    "no-webhook",
]


class ReminderScheduled(EventContract):
    event_type: ClassVar[str] = "reminder-scheduled"
    service: ClassVar[str] = "notifications"

    reminder_id: UUID
    recipient_id: PersonId
    kind: ReminderKind
    due_at: AwareDatetime
    homework_id: UUID | None = None
    # What the reminder is about, when not a homework: a session, a goal, or an alliance alert
    # or risk flag (alert_id).
    session_id: UUID | None = None
    goal_id: UUID | None = None
    alert_id: UUID | None = None
    # The client it concerns (the recipient itself, or a counselor's client).
    client_id: PersonId | None = None


class ReminderCancelled(EventContract):
    event_type: ClassVar[str] = "reminder-cancelled"
    service: ClassVar[str] = "notifications"

    reminder_id: UUID
    recipient_id: PersonId
    cancelled_at: AwareDatetime
    reason: CancellationReason


class ReminderSent(EventContract):
    """Delivered on one channel; a reminder sent on two channels has two of these."""

    event_type: ClassVar[str] = "reminder-sent"
    service: ClassVar[str] = "notifications"

    reminder_id: UUID
    recipient_id: PersonId
    channel: Channel
    sent_at: AwareDatetime


class ReminderFailed(EventContract):
    """Every attempt on one channel failed: the reminder is not delivered there."""

    event_type: ClassVar[str] = "reminder-failed"
    service: ClassVar[str] = "notifications"

    reminder_id: UUID
    recipient_id: PersonId
    channel: Channel
    failed_at: AwareDatetime
    reason: FailureReason


NOTIFICATIONS_CONTRACTS: tuple[type[EventContract], ...] = (
    ReminderScheduled,
    ReminderCancelled,
    ReminderSent,
    ReminderFailed,
)
