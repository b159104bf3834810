"""Events published by the sessions service. Note bodies, addenda and free-text reasons never
travel here: they stay in the sessions service's own (private) events."""

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from rapport_shared.contracts.base import AwareDatetime, EventContract, PersonId, ShortText

GoalType = Literal["behavioral", "emotional", "cognitive"]
GoalHorizon = Literal["short-term", "long-term"]
HomeworkType = Literal[
    "self-assessment", "symptom-log", "psychoeducation", "journaling", "modality-specific", "other"
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CancellationReason = Literal[
    "client-request", "counselor-unavailable", "clinic-closure", "rescheduled", "other"
]


class Milestone(BaseModel):
    """A smaller step toward a goal, with its own due date."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    description: ShortText
    due_date: date


class GasLevel(BaseModel):
    """One level of a Goal Attainment Scale: -2 (much less than expected) ... +2 (much more)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    level: int = Field(ge=-2, le=2)
    description: ShortText


class Recurrence(BaseModel):
    """Repeats a homework daily, or weekly on given days, until a date (inclusive).

    The first occurrence is the homework's due_at; later ones fall at the same local wall-clock
    time in time_zone (an IANA name), so a daylight-saving change does not shift them.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    frequency: Literal["daily", "weekly"]
    weekdays: tuple[Weekday, ...] = ()
    time_zone: str = "UTC"
    until: date


class AgreedGoal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    description: ShortText
    measure: ShortText
    target: ShortText
    due_date: date
    type: GoalType = "behavioral"
    horizon: GoalHorizon = "short-term"
    priority: Literal["high", "medium", "low"] = "medium"
    review_every_days: int | None = Field(default=None, ge=1, le=365)
    milestones: tuple[Milestone, ...] = ()
    gas_scale: tuple[GasLevel, ...] | None = None
    gas_weight: float = Field(default=1.0, gt=0)


class AgreedHomework(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    instructions: ShortText
    # The due time of a one-off task, or of the first occurrence of a recurring one.
    due_at: AwareDatetime
    recurrence: Recurrence | None = None
    # Position of the goal in the same plan this homework serves, if any.
    goal_index: int | None = Field(default=None, ge=0)
    type: HomeworkType = "other"
    reminder_lead_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)


class SessionScheduled(EventContract):
    event_type: ClassVar[str] = "session-scheduled"
    service: ClassVar[str] = "sessions"

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    starts_at: AwareDatetime


class SessionStarted(EventContract):
    event_type: ClassVar[str] = "session-started"
    service: ClassVar[str] = "sessions"

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    started_at: AwareDatetime


class SessionClosed(EventContract):
    """The closing step: the plan counselor and client agreed. Note bodies never travel here."""

    event_type: ClassVar[str] = "session-closed"
    service: ClassVar[str] = "sessions"

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    closed_at: AwareDatetime
    next_session_at: AwareDatetime | None = None
    goals: tuple[AgreedGoal, ...] = ()
    homework: tuple[AgreedHomework, ...] = ()


class SessionCancelled(EventContract):
    """Cancelled before it took place (the free-text explanation stays in the sessions service)."""

    event_type: ClassVar[str] = "session-cancelled"
    service: ClassVar[str] = "sessions"

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    cancelled_at: AwareDatetime
    reason: CancellationReason


class SessionNoShow(EventContract):
    event_type: ClassVar[str] = "session-no-show"
    service: ClassVar[str] = "sessions"

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    recorded_at: AwareDatetime


class NoteSigned(EventContract):
    """A session's note was signed and locked: a hash of the signed content, never the content."""

    event_type: ClassVar[str] = "note-signed"
    service: ClassVar[str] = "sessions"

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    signed_by: PersonId
    signed_at: AwareDatetime
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class CareTeamChanged(EventContract):
    """The counselors assigned to a client (the whole list, not a delta). Assigned counselors may
    write to the client's clinical record; every service keeps its own copy to authorize requests."""  # noqa: E501

    event_type: ClassVar[str] = "care-team-changed"
    service: ClassVar[str] = "sessions"

    client_id: PersonId
    counselor_ids: tuple[PersonId, ...]
    changed_by: PersonId
    changed_at: AwareDatetime


class ClientErased(EventContract):
    """A clinic admin erased a client: every service destroys the client's key and purges the
    client's rows from its projections. The event logs stay; what they hold is unreadable."""

    event_type: ClassVar[str] = "client-erased"
    service: ClassVar[str] = "sessions"

    client_id: PersonId
    erased_by: PersonId
    erased_at: AwareDatetime


SESSIONS_CONTRACTS: tuple[type[EventContract], ...] = (
    SessionScheduled,
    SessionStarted,
    SessionClosed,
    SessionCancelled,
    SessionNoShow,
    NoteSigned,
    CareTeamChanged,
    ClientErased,
)
