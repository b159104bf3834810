"""This service's private events: stored in its event store, never published.

They hold what the public reminder-* contracts deliberately leave out: what a reminder is about
(codes and times its words are rendered from), how its delivery went channel by channel, and what
this service has learned about the homework, sessions and goals of the other services, including
the tombstones that let an event arriving out of order schedule nothing.

Nothing here is free text: messages are rendered from these facts when they are delivered, and a
delivery error's wording stays in the delivery_errors table, which an erasure purges.
"""

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from rapport_shared.contracts.base import AwareDatetime, EventContract, PersonId
from rapport_shared.contracts.goals import Instrument, MeasureTiming, PlanItemKind, RefusalReason
from rapport_shared.contracts.notifications import Channel
from rapport_shared.contracts.sessions import GoalType, HomeworkType, Recurrence


class _PrivateEvent(EventContract):
    service: ClassVar[str] = "notifications"
    public: ClassVar[bool] = False


class ReminderFacts(BaseModel):
    """What a reminder's words are made of; which fields are set depends on its kind."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    homework_type: HomeworkType | None = None
    occurrence_at: AwareDatetime | None = None
    session_at: AwareDatetime | None = None
    goal_type: GoalType | None = None
    review_every_days: int | None = None
    srs_total: int | None = None
    srs_threshold: int | None = None
    # A plan item the goals service could not apply: which one, and why (a code).
    refused_kind: PlanItemKind | None = None
    refused_index: int | None = None
    refused_reason: RefusalReason | None = None
    # A risk flag: which item of which measure, the answer, and where the safety plan is.
    risk_instrument: Instrument | None = None
    risk_item: int | None = None
    risk_score: int | None = None
    safety_plan_path: str | None = None
    # A measure asked of the client: which, when (before a session, at its start or end, or
    # every N days), when it is due and by when it may still be filled in.
    measure_instrument: Instrument | None = None
    measure_timing: MeasureTiming | None = None
    measure_due_at: AwareDatetime | None = None
    measure_deadline: AwareDatetime | None = None


class ReminderComposed(_PrivateEvent):
    # Before the facts, this event held the rendered message; old copies load with empty facts
    # (the tolerant reader ignores the field) and render generically.
    event_type: ClassVar[str] = "reminder-composed"

    reminder_id: UUID
    facts: ReminderFacts = ReminderFacts()


class DeliveryDeferred(_PrivateEvent):
    event_type: ClassVar[str] = "delivery-deferred"

    reminder_id: UUID
    deferred_at: AwareDatetime
    until: AwareDatetime
    reason: Literal["quiet-hours"] = "quiet-hours"


class DeliveryAttemptFailed(_PrivateEvent):
    """One attempt on a channel failed and another is planned; the last is reminder-failed."""

    event_type: ClassVar[str] = "delivery-attempt-failed"

    reminder_id: UUID
    channel: Channel = "email"
    failed_at: AwareDatetime
    reason: str  # a FailureReason code (older events: the error text)
    next_attempt_at: AwareDatetime


class HomeworkAssignmentNoted(_PrivateEvent):
    event_type: ClassVar[str] = "homework-assignment-noted"

    homework_id: UUID
    client_id: PersonId | None = None
    homework_type: HomeworkType = "other"
    due_at: AwareDatetime | None = None
    recurrence: Recurrence | None = None


class HomeworkCompletionNoted(_PrivateEvent):
    event_type: ClassVar[str] = "homework-completion-noted"

    homework_id: UUID
    completed_at: AwareDatetime
    # The occurrence fulfilled; final when none is left (older events: one-off, so final).
    due_at: AwareDatetime | None = None
    final: bool = True


class HomeworkMissNoted(_PrivateEvent):
    event_type: ClassVar[str] = "homework-miss-noted"

    homework_id: UUID
    due_at: AwareDatetime


class HomeworkCancellationNoted(_PrivateEvent):
    event_type: ClassVar[str] = "homework-cancellation-noted"

    homework_id: UUID
    cancelled_at: AwareDatetime


class SessionScheduleNoted(_PrivateEvent):
    event_type: ClassVar[str] = "session-schedule-noted"

    session_id: UUID
    client_id: PersonId
    starts_at: AwareDatetime


class SessionClosureNoted(_PrivateEvent):
    event_type: ClassVar[str] = "session-closure-noted"

    session_id: UUID
    closed_at: AwareDatetime


class SessionCancellationNoted(_PrivateEvent):
    event_type: ClassVar[str] = "session-cancellation-noted"

    session_id: UUID
    cancelled_at: AwareDatetime


class NoteSignatureNoted(_PrivateEvent):
    event_type: ClassVar[str] = "note-signature-noted"

    session_id: UUID
    signed_at: AwareDatetime


class GoalPlanNoted(_PrivateEvent):
    """The review cadence in force from `since`; `plan` counts the plans, so each one's reminders
    get ids of their own."""

    event_type: ClassVar[str] = "goal-plan-noted"

    goal_id: UUID
    client_id: PersonId
    goal_type: GoalType
    since: AwareDatetime
    review_every_days: int | None
    due_date: date
    plan: int


class GoalClosureNoted(_PrivateEvent):
    event_type: ClassVar[str] = "goal-closure-noted"

    goal_id: UUID
    closed_at: AwareDatetime


class MeasureAskClosureNoted(_PrivateEvent):
    """A measure ask ended (measure-ask-closed): kept as a tombstone, so its measure-requested,
    should it arrive later, asks the client nothing."""

    event_type: ClassVar[str] = "measure-ask-closure-noted"

    ask_id: UUID
    closed_at: AwareDatetime


PRIVATE_EVENTS: tuple[type[EventContract], ...] = (
    ReminderComposed,
    DeliveryDeferred,
    DeliveryAttemptFailed,
    HomeworkAssignmentNoted,
    HomeworkCompletionNoted,
    HomeworkMissNoted,
    HomeworkCancellationNoted,
    SessionScheduleNoted,
    SessionClosureNoted,
    SessionCancellationNoted,
    NoteSignatureNoted,
    GoalPlanNoted,
    GoalClosureNoted,
    MeasureAskClosureNoted,
)
