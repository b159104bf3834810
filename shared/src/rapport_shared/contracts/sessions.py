"""Events published by the sessions service. Note bodies, addenda and free-text reasons never
travel here: they stay in the sessions service's own (private) events."""

from datetime import date
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rapport_shared.contracts.base import (
    SEALED_PATTERN,
    AwareDatetime,
    EventContract,
    PersonId,
    Upcaster,
    words_dropped,
)

GoalType = Literal["behavioral", "emotional", "cognitive"]
GoalHorizon = Literal["short-term", "long-term"]
HomeworkType = Literal[
    "self-assessment", "symptom-log", "psychoeducation", "journaling", "modality-specific", "other"
]
Priority = Literal["high", "medium", "low"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CancellationReason = Literal[
    "client-request", "counselor-unavailable", "clinic-closure", "rescheduled", "other"
]


class PlannedMilestone(BaseModel):
    """A smaller step toward a goal, with its own due date (its words travel sealed)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    due_date: date


class PlannedGasLevel(BaseModel):
    """One level of a Goal Attainment Scale: -2 (much less than expected) ... +2 (much more).
    What each level means in words travels sealed."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    level: int = Field(ge=-2, le=2)


class Recurrence(BaseModel):
    """Repeats a homework daily, or weekly on given days, until a date (inclusive).

    The first occurrence is the homework's due_at; later ones fall at the same local wall-clock
    time in time_zone (an IANA name), so a daylight-saving change does not shift them.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    frequency: Literal["daily", "weekly"]
    weekdays: tuple[Weekday, ...] = ()
    time_zone: str = Field("UTC", pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
    until: date


class PlannedGoal(BaseModel):
    """A goal of the plan without its words (description, measure, target): those are sealed."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    due_date: date
    type: GoalType = "behavioral"
    horizon: GoalHorizon = "short-term"
    priority: Priority = "medium"
    review_every_days: int | None = Field(default=None, ge=1, le=365)
    milestones: tuple[PlannedMilestone, ...] = ()
    gas_scale: tuple[PlannedGasLevel, ...] | None = None
    gas_weight: float = Field(default=1.0, gt=0)


class PlannedHomework(BaseModel):
    """A homework of the plan without its instructions (sealed)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
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


# AES-GCM ciphertext under the suite's plan-seal key (rapport_shared.eventsourcing.crypto.seal).
SealedText = Annotated[str, StringConstraints(pattern=SEALED_PATTERN, max_length=1_000_000)]


class SessionClosed(EventContract):
    """The closing step: the plan counselor and client agreed. Note bodies never travel here.

    v2: the plan's structure is in clear; its words (goal descriptions, measures, targets,
    milestone and GAS level descriptions, homework instructions) are one sealed field that only
    the sessions and goals services can open. v1 carried them in clear."""

    event_type: ClassVar[str] = "session-closed"
    service: ClassVar[str] = "sessions"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: words_dropped}
    # The seal is for the bus: the producer's own log keeps the words under the client's key.
    transport_only: ClassVar[frozenset[str]] = frozenset({"sealed_wording"})

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    closed_at: AwareDatetime
    next_session_at: AwareDatetime | None = None
    goals: tuple[PlannedGoal, ...] = ()
    homework: tuple[PlannedHomework, ...] = ()
    sealed_wording: SealedText | None = None


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
    write to the client's clinical record; every service keeps its own copy to authorize
    requests."""

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


def safety_plan_path(clinic_id: str, client_id: str) -> str:
    """Where the sessions API serves a client's safety plan: what the prep brief and a risk alert
    (written by the notifications service) point to."""
    return f"/clinics/{clinic_id}/clients/{client_id}/safety-plan"
