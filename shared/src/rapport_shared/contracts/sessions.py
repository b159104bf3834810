"""Events published by the sessions service."""

from datetime import date
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from rapport_shared.contracts.base import AwareDatetime, EventContract, PersonId, ShortText


class AgreedGoal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    description: ShortText
    measure: ShortText
    target: ShortText
    due_date: date


class AgreedHomework(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    instructions: ShortText
    due_at: AwareDatetime
    # Position of the goal in the same plan this homework serves, if any.
    goal_index: int | None = Field(default=None, ge=0)


class SessionScheduled(EventContract):
    event_type: ClassVar[str] = "session-scheduled"
    service: ClassVar[str] = "sessions"

    session_id: UUID
    client_id: PersonId
    counselor_id: PersonId
    starts_at: AwareDatetime


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


SESSIONS_CONTRACTS: tuple[type[EventContract], ...] = (SessionScheduled, SessionClosed)
