"""What the API reads: one session's full state (from its event stream, so the version is exact
and the note body is included) and a client's notes (from the notes projection)."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions import repository
from rapport_sessions.domain.model import Session, SessionStatus
from rapport_sessions.tables import notes_goals, notes_homework, notes_sessions, to_utc
from rapport_shared.contracts.sessions import AgreedGoal, AgreedHomework
from rapport_shared.eventstore import EventStore


class NoteState(BaseModel):
    body: str
    recorded_at: datetime


class SessionState(BaseModel):
    session_id: UUID
    clinic_id: str
    client_id: str
    counselor_id: str
    starts_at: datetime
    status: SessionStatus
    version: int
    note: NoteState | None = None
    closed_at: datetime | None = None
    next_session_at: datetime | None = None
    goals: list[AgreedGoal] = []
    homework: list[AgreedHomework] = []

    @classmethod
    def of(cls, session: Session) -> "SessionState":
        note, closing = session.note, session.closing
        return cls(
            session_id=session.session_id,
            clinic_id=session.clinic_id,
            client_id=session.client_id,
            counselor_id=session.counselor_id,
            starts_at=session.starts_at,
            status=session.status,
            version=session.version,
            note=NoteState(body=note.body, recorded_at=note.recorded_at) if note else None,
            closed_at=closing.closed_at if closing else None,
            next_session_at=closing.next_session_at if closing else None,
            goals=list(closing.goals) if closing else [],
            homework=list(closing.homework) if closing else [],
        )


class GoalLine(BaseModel):
    goal_id: UUID
    description: str
    due_date: date


class HomeworkLine(BaseModel):
    homework_id: UUID
    goal_id: UUID | None
    instructions: str
    due_at: datetime
    completed_at: datetime | None


class SessionLine(BaseModel):
    session_id: UUID
    starts_at: datetime
    status: SessionStatus
    closed_at: datetime | None
    next_session_at: datetime | None
    has_note: bool
    goals: list[GoalLine]
    homework: list[HomeworkLine]


class ClientNotes(BaseModel):
    client_id: str
    sessions: list[SessionLine]


async def session_state(
    conn: AsyncConnection, store: EventStore, clinic_id: str, session_id: UUID
) -> SessionState:
    return SessionState.of(await repository.load(conn, store, clinic_id, session_id))


async def client_notes(conn: AsyncConnection, clinic_id: str, client_id: str) -> ClientNotes:
    sessions = notes_sessions.c
    client_sessions = select(sessions.session_id).where(
        sessions.clinic_id == clinic_id, sessions.client_id == client_id
    )
    session_rows = await conn.execute(
        select(notes_sessions)
        .where(sessions.session_id.in_(client_sessions))
        .order_by(sessions.starts_at, sessions.session_id)
    )
    goal_rows = await conn.execute(
        select(notes_goals)
        .where(notes_goals.c.session_id.in_(client_sessions), notes_goals.c.clinic_id == clinic_id)
        .order_by(notes_goals.c.due_date, notes_goals.c.goal_id)
    )
    homework_rows = await conn.execute(
        select(notes_homework)
        .where(
            notes_homework.c.session_id.in_(client_sessions),
            notes_homework.c.clinic_id == clinic_id,
        )
        .order_by(notes_homework.c.due_at, notes_homework.c.homework_id)
    )
    goals = _by_session(goal_rows.mappings().all())
    homework = _by_session(homework_rows.mappings().all())
    return ClientNotes(
        client_id=client_id,
        sessions=[
            SessionLine(
                session_id=row["session_id"],
                starts_at=to_utc(row["starts_at"]),
                status=SessionStatus(row["status"]),
                closed_at=_utc_or_none(row["closed_at"]),
                next_session_at=_utc_or_none(row["next_session_at"]),
                has_note=row["has_note"],
                goals=[GoalLine(**g) for g in goals.get(row["session_id"], [])],
                homework=[_homework_line(h) for h in homework.get(row["session_id"], [])],
            )
            for row in session_rows.mappings()
        ],
    )


def _by_session(rows: Sequence[Any]) -> dict[UUID, list[dict[str, Any]]]:
    grouped: dict[UUID, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["session_id"], []).append(dict(row))
    return grouped


def _homework_line(row: dict[str, Any]) -> HomeworkLine:
    return HomeworkLine(
        homework_id=row["homework_id"],
        goal_id=row["goal_id"],
        instructions=row["instructions"],
        due_at=to_utc(row["due_at"]),
        completed_at=_utc_or_none(row["completed_at"]),
    )


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else to_utc(moment)
