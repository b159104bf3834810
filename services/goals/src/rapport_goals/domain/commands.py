"""What callers ask of the domain. The API and the session-closed handler both speak these."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from rapport_shared.contracts.goals import AchievementStatus, Instrument, LifecycleStatus
from rapport_shared.contracts.plan import GasLevel, Milestone
from rapport_shared.contracts.sessions import GoalHorizon, GoalType, HomeworkType, Recurrence

Priority = Literal["high", "medium", "low"]


@dataclass(frozen=True)
class AgreeGoal:
    clinic_id: str
    goal_id: UUID
    client_id: str
    counselor_id: str
    description: str
    measure: str
    target: str
    due_date: date
    session_id: UUID | None = None
    type: GoalType = "behavioral"
    horizon: GoalHorizon = "short-term"
    priority: Priority = "medium"
    review_every_days: int | None = None
    milestones: tuple[Milestone, ...] = ()
    gas_scale: tuple[GasLevel, ...] | None = None
    gas_weight: float = 1.0


@dataclass(frozen=True)
class ReviseGoal:
    """Fields left None do not change."""

    clinic_id: str
    goal_id: UUID
    revised_by: str
    description: str | None = None
    measure: str | None = None
    target: str | None = None
    due_date: date | None = None
    priority: Priority | None = None
    review_every_days: int | None = None
    milestones: tuple[Milestone, ...] | None = None
    gas_scale: tuple[GasLevel, ...] | None = None


@dataclass(frozen=True)
class ChangeGoalStatus:
    clinic_id: str
    goal_id: UUID
    lifecycle_status: LifecycleStatus
    # None keeps the current achievement status.
    achievement_status: AchievementStatus | None = None


@dataclass(frozen=True)
class ReviewGoal:
    clinic_id: str
    goal_id: UUID
    reviewed_by: str
    achievement_status: AchievementStatus
    attained_level: int | None = None


@dataclass(frozen=True)
class AssignHomework:
    clinic_id: str
    homework_id: UUID
    client_id: str
    counselor_id: str
    instructions: str
    due_at: datetime
    goal_id: UUID | None = None
    session_id: UUID | None = None
    type: HomeworkType = "other"
    recurrence: Recurrence | None = None
    reminder_lead_minutes: int | None = None


@dataclass(frozen=True)
class CompleteHomework:
    clinic_id: str
    homework_id: UUID
    # None means "now": the client reports it done as they tick it off.
    completed_at: datetime | None = None
    self_rating: int | None = None
    # Private to this service: stored in a private event, never published.
    journal: str | None = None


@dataclass(frozen=True)
class RecordMeasure:
    clinic_id: str
    measure_id: UUID
    client_id: str
    instrument: Instrument
    items: tuple[int, ...]
    counselor_id: str | None = None
    session_id: UUID | None = None
