"""The rules of reminding: when a homework reminder is due, and how a reminder moves from pending
to sent, cancelled or failed.

Pure: commands take the current time as an argument and return the events they decide on; the
caller appends them. Aggregates are rebuilt from their history with replay().
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid5

from rapport_notifications.domain.events import (
    DeliveryAttemptFailed,
    HomeworkAssignmentNoted,
    HomeworkCompletionNoted,
    ReminderComposed,
)
from rapport_notifications.domain.messages import homework_due_message, recognition_message
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import HomeworkAssigned, HomeworkCompleted
from rapport_shared.contracts.notifications import (
    ReminderCancelled,
    ReminderFailed,
    ReminderKind,
    ReminderScheduled,
    ReminderSent,
)

# What a homework's "instructions" are noted as: homework-assigned carries none since issue 4.
UNWORDED_HOMEWORK = "homework"

HOMEWORK_DUE: ReminderKind = "homework-due"
RECOGNITION: ReminderKind = "recognition"

# The events of a reminder's stream (a homework's stream holds the Homework* events).
REMINDER_EVENTS: tuple[type[EventContract], ...] = (
    ReminderScheduled,
    ReminderComposed,
    DeliveryAttemptFailed,
    ReminderCancelled,
    ReminderSent,
    ReminderFailed,
)


def reminder_id_for(homework_id: UUID, kind: ReminderKind) -> UUID:
    """Derived, so a redelivered homework event finds the reminder it created before."""
    return uuid5(homework_id, kind)


def reminder_stream(reminder_id: UUID) -> str:
    return f"reminder-{reminder_id}"


def homework_stream(homework_id: UUID) -> str:
    return f"homework-{homework_id}"


def homework_reminder_time(due_at: datetime, now: datetime, lead: timedelta) -> datetime | None:
    """lead before due_at; now if that moment has passed; None once the homework is past due."""
    if due_at <= now:
        return None
    return max(due_at - lead, now)


def schedule_reminder(
    *,
    clinic_id: str,
    homework_id: UUID,
    kind: ReminderKind,
    recipient_id: str,
    due_at: datetime,
    message: str,
) -> list[EventContract]:
    """The first events of a new reminder's stream."""
    reminder_id = reminder_id_for(homework_id, kind)
    return [
        ReminderScheduled(
            clinic_id=clinic_id,
            reminder_id=reminder_id,
            recipient_id=recipient_id,
            kind=kind,
            due_at=due_at,
            homework_id=homework_id,
        ),
        ReminderComposed(clinic_id=clinic_id, reminder_id=reminder_id, message=message),
    ]


class ReminderStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff: timedelta
    max_backoff: timedelta

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the attempts-th failed attempt: backoff, doubling each time, capped."""
        return min(self.backoff * (1 << (attempts - 1)), self.max_backoff)


@dataclass
class Reminder:
    reminder_id: UUID
    clinic_id: str
    recipient_id: str
    kind: ReminderKind
    due_at: datetime
    homework_id: UUID | None
    next_attempt_at: datetime
    message: str = ""
    status: ReminderStatus = ReminderStatus.PENDING
    attempts: int = 0
    sent_at: datetime | None = None
    failure_reason: str | None = None

    @classmethod
    def replay(cls, history: Sequence[EventContract]) -> "Reminder":
        first, *rest = history
        if not isinstance(first, ReminderScheduled):
            raise ValueError(f"a reminder's history starts with reminder-scheduled, not {first!r}")
        reminder = cls(
            reminder_id=first.reminder_id,
            clinic_id=first.clinic_id,
            recipient_id=first.recipient_id,
            kind=first.kind,
            due_at=first.due_at,
            homework_id=first.homework_id,
            next_attempt_at=first.due_at,
        )
        for event in rest:
            reminder._apply(event)
        return reminder

    def cancel(self, now: datetime) -> list[EventContract]:
        if self.status is not ReminderStatus.PENDING:
            return []  # a sent reminder stays sent; a second cancellation changes nothing
        return [
            ReminderCancelled(
                clinic_id=self.clinic_id,
                reminder_id=self.reminder_id,
                recipient_id=self.recipient_id,
                cancelled_at=now,
                reason="homework-completed",
            )
        ]

    def record_sent(self, now: datetime) -> list[EventContract]:
        # A cancellation that landed while the email was on its way does not unsend it.
        if self.status not in (ReminderStatus.PENDING, ReminderStatus.CANCELLED):
            return []
        return [
            ReminderSent(
                clinic_id=self.clinic_id,
                reminder_id=self.reminder_id,
                recipient_id=self.recipient_id,
                channel="email",
                sent_at=now,
            )
        ]

    def record_failed_attempt(
        self, reason: str, now: datetime, policy: RetryPolicy
    ) -> list[EventContract]:
        if self.status is not ReminderStatus.PENDING:
            return []
        attempts = self.attempts + 1
        if attempts >= policy.max_attempts:
            return [
                ReminderFailed(
                    clinic_id=self.clinic_id,
                    reminder_id=self.reminder_id,
                    recipient_id=self.recipient_id,
                    channel="email",
                    failed_at=now,
                    reason=reason,
                )
            ]
        return [
            DeliveryAttemptFailed(
                clinic_id=self.clinic_id,
                reminder_id=self.reminder_id,
                failed_at=now,
                reason=reason,
                next_attempt_at=now + policy.delay_after(attempts),
            )
        ]

    def _apply(self, event: EventContract) -> None:
        match event:
            case ReminderComposed():
                self.message = event.message
            case ReminderCancelled():
                if self.status is ReminderStatus.PENDING:  # sent wins over a later cancel
                    self.status = ReminderStatus.CANCELLED
            case DeliveryAttemptFailed():
                self.attempts += 1
                self.next_attempt_at = event.next_attempt_at
            case ReminderSent():
                self.attempts += 1
                self.status = ReminderStatus.SENT
                self.sent_at = event.sent_at
            case ReminderFailed():
                self.attempts += 1
                self.status = ReminderStatus.FAILED
                self.failure_reason = event.reason
            case _:
                raise ValueError(f"{event.event_type} does not belong to a reminder")


@dataclass(frozen=True)
class FollowUp:
    """What one homework event leads to: facts to remember, and perhaps a new reminder."""

    noted: list[EventContract] = field(default_factory=list)
    new_reminder: list[EventContract] = field(default_factory=list)


@dataclass
class Homework:
    """What this service knows of one homework of the goals service. Remembering its completion
    lets an assignment that arrives after it (events of different streams may be reordered)
    schedule nothing; remembering its instructions lets the recognition quote the task."""

    homework_id: UUID
    instructions: str | None = None
    completed: bool = False

    @classmethod
    def replay(cls, homework_id: UUID, history: Sequence[EventContract]) -> "Homework":
        homework = cls(homework_id)
        for event in history:
            match event:
                case HomeworkAssignmentNoted():
                    homework.instructions = event.instructions
                case HomeworkCompletionNoted():
                    homework.completed = True
                case _:
                    raise ValueError(f"{event.event_type} does not belong to a homework")
        return homework

    def assign(
        self, assignment: HomeworkAssigned, now: datetime, default_lead: timedelta
    ) -> FollowUp:
        if self.instructions is not None:
            return FollowUp()  # seen before: a copy of the assignment under a new event id
        noted: list[EventContract] = [
            HomeworkAssignmentNoted(
                clinic_id=assignment.clinic_id,
                homework_id=self.homework_id,
                # homework-assigned carries no instructions (issue 4: no free text on the bus).
                instructions=UNWORDED_HOMEWORK,
            )
        ]
        minutes = assignment.reminder_lead_minutes  # the homework's own preference, if any
        lead = default_lead if minutes is None else timedelta(minutes=minutes)
        remind_at = homework_reminder_time(assignment.due_at, now, lead)
        if self.completed or remind_at is None:
            return FollowUp(noted)
        return FollowUp(
            noted,
            schedule_reminder(
                clinic_id=assignment.clinic_id,
                homework_id=self.homework_id,
                kind=HOMEWORK_DUE,
                recipient_id=assignment.client_id,
                due_at=remind_at,
                message=homework_due_message(assignment.due_at),
            ),
        )

    def complete(self, completion: HomeworkCompleted, now: datetime) -> FollowUp:
        if self.completed:
            return FollowUp()
        return FollowUp(
            [
                HomeworkCompletionNoted(
                    clinic_id=completion.clinic_id,
                    homework_id=self.homework_id,
                    completed_at=completion.completed_at,
                )
            ],
            schedule_reminder(
                clinic_id=completion.clinic_id,
                homework_id=self.homework_id,
                kind=RECOGNITION,
                recipient_id=completion.client_id,
                due_at=now,
                message=recognition_message(None),
            ),
        )
