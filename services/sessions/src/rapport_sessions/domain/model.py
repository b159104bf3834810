"""The counseling session aggregate: scheduled, then closed with the plan counselor and client
agreed. Commands check the rules and return the event that records the decision; the aggregate
changes only by applying events, so it is rebuilt the same way from its stored history."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from rapport_sessions.domain.events import NoteRecorded
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.sessions import (
    AgreedGoal,
    AgreedHomework,
    SessionClosed,
    SessionScheduled,
)
from rapport_shared.errors import DomainError, InvalidState

# The last time zone to leave a calendar day is UTC-12: a due date counts as past only once that
# day is over everywhere, so a counselor anywhere may set a goal due "today".
_LATEST_UTC_OFFSET = timedelta(hours=12)


def stream_id(session_id: UUID) -> str:
    return f"session-{session_id}"


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CLOSED = "closed"


@dataclass(frozen=True)
class Note:
    body: str
    recorded_at: datetime


@dataclass
class Session:
    session_id: UUID
    clinic_id: str
    client_id: str
    counselor_id: str
    starts_at: datetime
    status: SessionStatus = SessionStatus.SCHEDULED
    version: int = 1
    note: Note | None = None
    closing: SessionClosed | None = None

    @classmethod
    def from_history(cls, events: Sequence[EventContract]) -> "Session":
        first, *rest = events
        if not isinstance(first, SessionScheduled):
            raise ValueError(f"a session's history starts with session-scheduled, not {first!r}")
        session = cls(
            session_id=first.session_id,
            clinic_id=first.clinic_id,
            client_id=first.client_id,
            counselor_id=first.counselor_id,
            starts_at=first.starts_at,
        )
        for event in rest:
            session.apply(event)
        return session

    def apply(self, event: EventContract) -> None:
        if isinstance(event, NoteRecorded):
            self.note = Note(event.body, event.recorded_at)
        elif isinstance(event, SessionClosed):
            self.status = SessionStatus.CLOSED
            self.closing = event
        else:
            raise ValueError(f"a session does not apply {event.event_type}")
        self.version += 1

    def record_note(self, body: str, recorded_at: datetime) -> NoteRecorded:
        """One note per session: recording again replaces the text (the history keeps both).
        Allowed after closing too, since notes are often finished after the client has left."""
        return NoteRecorded(
            clinic_id=self.clinic_id, session_id=self.session_id, body=body, recorded_at=recorded_at
        )

    def close(
        self,
        closed_at: datetime,
        next_session_at: datetime | None,
        goals: Sequence[AgreedGoal],
        homework: Sequence[AgreedHomework],
    ) -> SessionClosed:
        if self.status is SessionStatus.CLOSED:
            raise InvalidState(f"session {self.session_id} is already closed")
        if next_session_at is not None and next_session_at <= closed_at:
            raise DomainError("the next session must be after the close", field="next_session_at")
        _check_goals(goals, closed_at)
        _check_homework(homework, len(goals), closed_at)
        return SessionClosed(
            clinic_id=self.clinic_id,
            session_id=self.session_id,
            client_id=self.client_id,
            counselor_id=self.counselor_id,
            closed_at=closed_at,
            next_session_at=next_session_at,
            goals=tuple(goals),
            homework=tuple(homework),
        )


def schedule(
    session_id: UUID, clinic_id: str, client_id: str, counselor_id: str, starts_at: datetime
) -> SessionScheduled:
    return SessionScheduled(
        clinic_id=clinic_id,
        session_id=session_id,
        client_id=client_id,
        counselor_id=counselor_id,
        starts_at=starts_at,
    )


def _earliest_current_date(moment: datetime) -> date:
    return (moment.astimezone(UTC) - _LATEST_UTC_OFFSET).date()


def _check_goals(goals: Sequence[AgreedGoal], closed_at: datetime) -> None:
    earliest_today = _earliest_current_date(closed_at)
    for index, goal in enumerate(goals):
        if goal.due_date < earliest_today:
            raise DomainError(
                f"goal due date {goal.due_date} is in the past", field=f"goals.{index}.due_date"
            )


def _check_homework(
    homework: Sequence[AgreedHomework], goal_count: int, closed_at: datetime
) -> None:
    for index, task in enumerate(homework):
        if task.goal_index is not None and task.goal_index >= goal_count:
            raise DomainError(
                f"goal_index {task.goal_index} points at no goal of this plan "
                f"({goal_count} goal(s))",
                field=f"homework.{index}.goal_index",
            )
        if task.due_at <= closed_at:
            raise DomainError(
                "homework must be due after the session closes", field=f"homework.{index}.due_at"
            )
