"""Events published by the goals service."""

from datetime import date
from typing import ClassVar
from uuid import UUID

from rapport_shared.contracts.base import AwareDatetime, EventContract, PersonId, ShortText


class GoalAgreed(EventContract):
    event_type: ClassVar[str] = "goal-agreed"
    service: ClassVar[str] = "goals"

    goal_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    # The session whose closing step agreed it; None when agreed directly through the API.
    session_id: UUID | None = None
    description: ShortText
    measure: ShortText
    target: ShortText
    due_date: date
    agreed_at: AwareDatetime


class HomeworkAssigned(EventContract):
    event_type: ClassVar[str] = "homework-assigned"
    service: ClassVar[str] = "goals"

    homework_id: UUID
    goal_id: UUID | None = None
    session_id: UUID | None = None
    client_id: PersonId
    counselor_id: PersonId
    instructions: ShortText
    due_at: AwareDatetime
    assigned_at: AwareDatetime


class HomeworkCompleted(EventContract):
    event_type: ClassVar[str] = "homework-completed"
    service: ClassVar[str] = "goals"

    homework_id: UUID
    goal_id: UUID | None = None
    client_id: PersonId
    due_at: AwareDatetime
    completed_at: AwareDatetime

    @property
    def on_time(self) -> bool:
        return self.completed_at <= self.due_at


GOALS_CONTRACTS: tuple[type[EventContract], ...] = (GoalAgreed, HomeworkAssigned, HomeworkCompleted)
