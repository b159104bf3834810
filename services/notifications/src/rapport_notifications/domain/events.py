"""This service's private events: stored in its event store, never published.

They hold what the public reminder-* contracts deliberately leave out: the words sent to a client
(they may quote the homework), each failed delivery attempt, and what this service has learned
about a homework from the goals service.
"""

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from rapport_shared.contracts.base import AwareDatetime, EventContract, ShortText


class _PrivateEvent(EventContract):
    service: ClassVar[str] = "notifications"
    public: ClassVar[bool] = False


class ReminderComposed(_PrivateEvent):
    event_type: ClassVar[str] = "reminder-composed"

    reminder_id: UUID
    message: str = Field(min_length=1)


class DeliveryAttemptFailed(_PrivateEvent):
    """One attempt failed and another is planned; the last attempt's failure is reminder-failed."""

    event_type: ClassVar[str] = "delivery-attempt-failed"

    reminder_id: UUID
    failed_at: AwareDatetime
    reason: str
    next_attempt_at: AwareDatetime


class HomeworkAssignmentNoted(_PrivateEvent):
    event_type: ClassVar[str] = "homework-assignment-noted"

    homework_id: UUID
    instructions: ShortText


class HomeworkCompletionNoted(_PrivateEvent):
    event_type: ClassVar[str] = "homework-completion-noted"

    homework_id: UUID
    completed_at: AwareDatetime


PRIVATE_EVENTS: tuple[type[EventContract], ...] = (
    ReminderComposed,
    DeliveryAttemptFailed,
    HomeworkAssignmentNoted,
    HomeworkCompletionNoted,
)
