"""Events published by the goals service: goals, homework, measures and the asks for them,
alliance alerts and risk flags.

Journal text written with a homework completion is private to the goals service and never here;
so are a goal's words (description, measure, target, milestone and GAS level descriptions) and a
homework's instructions: v2 of goal-agreed, goal-revised and homework-assigned dropped them (v1
carried them in clear).
"""

from datetime import date
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from rapport_shared.contracts.base import (
    AwareDatetime,
    EventContract,
    PersonId,
    Upcaster,
    words_dropped,
)
from rapport_shared.contracts.sessions import (
    GoalHorizon,
    GoalType,
    HomeworkType,
    PlannedGasLevel,
    PlannedMilestone,
    Priority,
    Recurrence,
)

# FHIR Goal.lifecycleStatus and Goal.achievementStatus codes.
LifecycleStatus = Literal[
    "proposed",
    "planned",
    "accepted",
    "active",
    "on-hold",
    "completed",
    "cancelled",
    "entered-in-error",
    "rejected",
]
AchievementStatus = Literal[
    "in-progress",
    "improving",
    "worsening",
    "no-change",
    "achieved",
    "sustaining",
    "not-achieved",
    "no-progress",
    "not-attainable",
]
Instrument = Literal["PHQ-9", "GAD-7", "ORS", "SRS"]
# The severity bands of PHQ-9 and GAD-7 (codes, not free text).
Band = Literal["minimal", "mild", "moderate", "moderately severe", "severe"]


def _revised_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    worded = any(data.get(name) is not None for name in ("description", "measure", "target"))
    return {**data, "wording_revised": worded}


class GoalAgreed(EventContract):
    event_type: ClassVar[str] = "goal-agreed"
    service: ClassVar[str] = "goals"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: words_dropped}

    goal_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    # The session whose closing step agreed it; None when agreed directly through the API.
    session_id: UUID | None = None
    due_date: date
    agreed_at: AwareDatetime
    type: GoalType = "behavioral"
    horizon: GoalHorizon = "short-term"
    priority: Priority = "medium"
    review_every_days: int | None = None
    milestones: tuple[PlannedMilestone, ...] = ()
    gas_scale: tuple[PlannedGasLevel, ...] | None = None
    gas_weight: float = 1.0
    lifecycle_status: LifecycleStatus = "active"
    achievement_status: AchievementStatus = "in-progress"


class GoalRevised(EventContract):
    """Some of a goal's agreed terms changed; fields left None did not change. wording_revised
    says its words changed (which words, and to what, stay in the goals service)."""

    event_type: ClassVar[str] = "goal-revised"
    service: ClassVar[str] = "goals"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _revised_v1_to_v2}

    goal_id: UUID
    client_id: PersonId
    revised_at: AwareDatetime
    revised_by: PersonId
    wording_revised: bool = False
    due_date: date | None = None
    priority: Priority | None = None
    review_every_days: int | None = None
    milestones: tuple[PlannedMilestone, ...] | None = None
    gas_scale: tuple[PlannedGasLevel, ...] | None = None


class GoalStatusChanged(EventContract):
    event_type: ClassVar[str] = "goal-status-changed"
    service: ClassVar[str] = "goals"

    goal_id: UUID
    client_id: PersonId
    changed_at: AwareDatetime
    lifecycle_status: LifecycleStatus
    achievement_status: AchievementStatus


class GoalReviewed(EventContract):
    """A review of a goal; with a GAS scale, the level attained (-2 ... +2)."""

    event_type: ClassVar[str] = "goal-reviewed"
    service: ClassVar[str] = "goals"

    goal_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    reviewed_at: AwareDatetime
    attained_level: int | None = Field(default=None, ge=-2, le=2)
    achievement_status: AchievementStatus


class HomeworkAssigned(EventContract):
    event_type: ClassVar[str] = "homework-assigned"
    service: ClassVar[str] = "goals"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: words_dropped}

    homework_id: UUID
    goal_id: UUID | None = None
    session_id: UUID | None = None
    client_id: PersonId
    counselor_id: PersonId
    # The due time of a one-off task, or of the first occurrence of a recurring one.
    due_at: AwareDatetime
    assigned_at: AwareDatetime
    type: HomeworkType = "other"
    recurrence: Recurrence | None = None
    reminder_lead_minutes: int | None = None


class HomeworkCompleted(EventContract):
    event_type: ClassVar[str] = "homework-completed"
    service: ClassVar[str] = "goals"

    homework_id: UUID
    goal_id: UUID | None = None
    client_id: PersonId
    # For recurring homework, the occurrence this completion fulfils.
    due_at: AwareDatetime
    completed_at: AwareDatetime
    self_rating: int | None = Field(default=None, ge=0, le=10)
    # True when the homework has no occurrence left to do after this one.
    final: bool = True

    @property
    def on_time(self) -> bool:
        return self.completed_at <= self.due_at


class HomeworkMissed(EventContract):
    """An occurrence's due time passed unfulfilled."""

    event_type: ClassVar[str] = "homework-missed"
    service: ClassVar[str] = "goals"

    homework_id: UUID
    goal_id: UUID | None = None
    client_id: PersonId
    due_at: AwareDatetime
    recorded_at: AwareDatetime


class HomeworkCancelled(EventContract):
    event_type: ClassVar[str] = "homework-cancelled"
    service: ClassVar[str] = "goals"

    homework_id: UUID
    client_id: PersonId
    cancelled_at: AwareDatetime


class MeasureRecorded(EventContract):
    """A standard measure's scores: item scores, total, band and change since the first one."""

    event_type: ClassVar[str] = "measure-recorded"
    service: ClassVar[str] = "goals"

    measure_id: UUID
    client_id: PersonId
    counselor_id: PersonId | None = None
    session_id: UUID | None = None
    instrument: Instrument
    items: tuple[int, ...]
    total: int
    band: Band | None = None
    recorded_at: AwareDatetime


class AllianceAlertRaised(EventContract):
    """A Session Rating Scale total below the threshold: the counselor should check in."""

    event_type: ClassVar[str] = "alliance-alert-raised"
    service: ClassVar[str] = "goals"

    alert_id: UUID
    measure_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    srs_total: int
    threshold: int
    raised_at: AwareDatetime


class RiskFlagRaised(EventContract):
    """A measure's risk item (PHQ-9 item 9: thoughts of being better off dead or of self-harm)
    answered at or above the clinic's threshold. Ids and scores only, never the client's words:
    whom to alert (the care team and the clinic's chosen admins, resolved when it was raised) is
    in alert_recipient_ids, so the notifications service needs nothing else to tell them."""

    event_type: ClassVar[str] = "risk-flag-raised"
    service: ClassVar[str] = "goals"

    flag_id: UUID
    measure_id: UUID
    client_id: PersonId
    instrument: Instrument
    item: int = Field(ge=1, description="The item's number on the form, 1-based")
    score: int = Field(ge=0)
    threshold: int = Field(ge=1)
    alert_recipient_ids: tuple[PersonId, ...] = Field(max_length=200)
    raised_at: AwareDatetime


class RiskFlagAcknowledged(EventContract):
    """A counselor on the care team has seen the flag and taken it on: it leaves the prep brief
    and the progress view's open flags."""

    event_type: ClassVar[str] = "risk-flag-acknowledged"
    service: ClassVar[str] = "goals"

    flag_id: UUID
    client_id: PersonId
    acknowledged_by: PersonId
    acknowledged_at: AwareDatetime


# When a client is asked to fill in a measure: before each session (the day before), at a
# session's start or end, or every N days from a first moment, at its local time.
MeasureTiming = Literal["before-session", "session-start", "session-end", "every-n-days"]
MAX_MEASURE_SCHEDULES = 8
# An IANA zone name's shape; whether the zone exists is the goals service's check.
TIME_ZONE_PATTERN = r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"


class MeasureSchedule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    instrument: Instrument
    when: MeasureTiming
    every_days: int | None = Field(None, ge=1, le=365)


class MeasurementPlanSet(EventContract):
    """A client's measurement plan as it now stands, whole (an empty one stops the asks)."""

    event_type: ClassVar[str] = "measurement-plan-set"
    service: ClassVar[str] = "goals"

    client_id: PersonId
    set_by: PersonId
    schedules: tuple[MeasureSchedule, ...] = Field(max_length=MAX_MEASURE_SCHEDULES)
    time_zone: str = Field("UTC", pattern=TIME_ZONE_PATTERN, max_length=64)
    # The first ask of the every-n-days schedules; later ones at its local time.
    first_at: AwareDatetime | None = None
    set_at: AwareDatetime


class MeasureRequested(EventContract):
    """The client is asked for a measure: from ask_at, to be filled in by due_at; unfilled at
    the deadline it is missed. session_id names the session it belongs to, if one."""

    event_type: ClassVar[str] = "measure-requested"
    service: ClassVar[str] = "goals"

    ask_id: UUID
    client_id: PersonId
    instrument: Instrument
    timing: MeasureTiming
    session_id: UUID | None = None
    ask_at: AwareDatetime
    due_at: AwareDatetime
    deadline: AwareDatetime


MeasureAskOutcome = Literal["fulfilled", "missed", "withdrawn"]


class MeasureAskClosed(EventContract):
    """An ask ends: fulfilled by a measure (measure_id), missed at its deadline, or withdrawn
    (its session was cancelled, or the plan no longer asks for it)."""

    event_type: ClassVar[str] = "measure-ask-closed"
    service: ClassVar[str] = "goals"

    ask_id: UUID
    client_id: PersonId
    instrument: Instrument
    outcome: MeasureAskOutcome
    measure_id: UUID | None = None
    closed_at: AwareDatetime


# Why a plan item could not be applied: a code, never free text. The first codes are the shared
# plan rules' (rapport_shared.contracts.plan_rules), which the sessions service checks before it
# accepts a close, so they reach this event only if the two services' rules ever drift apart; the
# last three are the goals side's own: the item's goal was refused, the item broke a rule without a
# code, or its structure did not validate.
RefusalReason = Literal[
    "due-date-past",
    "milestone-after-due-date",
    "gas-scale-levels",
    "gas-weight",
    "review-cadence",
    "due-before-assignment",
    "time-zone-unknown",
    "weekdays-not-weekly",
    "until-before-first",
    "too-many-occurrences",
    "goal-index",
    "goal-refused",
    "rule-broken",
    "invalid-item",
]
PlanItemKind = Literal["goal", "homework"]
# A field's path in a close request: goals.0.due_date, homework.1.recurrence.time_zone.
FIELD_PATH_PATTERN = r"^[a-z_]+(\.[a-z0-9_]+)*$"
MAX_FIELD_PATH = 200


class PlanItemRefused(EventContract):
    """A goal or homework of a closed session's plan that the goals service could not apply.
    The rest of the plan was applied; the counselor is told (notes view, prep brief, alert).

    item_id is the id the item would have had (rapport_shared.contracts.plan.derived_id), item_index
    its position in the plan, field the offending field's path in the close request
    (homework.1.recurrence.time_zone). refused_at is the session's close: the plan is judged as
    of then, so a redelivered session-closed refuses the same items alike."""

    event_type: ClassVar[str] = "plan-item-refused"
    service: ClassVar[str] = "goals"
    schema_version: ClassVar[int] = 1

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    kind: PlanItemKind
    item_index: int = Field(ge=0)
    item_id: UUID
    reason: RefusalReason
    field: str = Field(pattern=FIELD_PATH_PATTERN, max_length=MAX_FIELD_PATH)
    refused_at: AwareDatetime


GOALS_CONTRACTS: tuple[type[EventContract], ...] = (
    GoalAgreed,
    GoalRevised,
    GoalStatusChanged,
    GoalReviewed,
    HomeworkAssigned,
    HomeworkCompleted,
    HomeworkMissed,
    HomeworkCancelled,
    MeasureRecorded,
    AllianceAlertRaised,
    PlanItemRefused,
    RiskFlagRaised,
    RiskFlagAcknowledged,
    MeasurementPlanSet,
    MeasureRequested,
    MeasureAskClosed,
)
