"""What callers ask of the domain. The API and the session-closed handler both speak these."""

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID


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


@dataclass(frozen=True)
class CompleteHomework:
    clinic_id: str
    homework_id: UUID
    # None means "now": the client reports it done as they tick it off.
    completed_at: datetime | None = None
