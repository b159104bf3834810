"""What the API reads: one session's full state (from its event stream, so the version is exact
and the note text, signature and addenda are included), a client's record as it stood at a
moment (replaying the event store up to then) and a client's notes (from the notes projection)."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions import repository
from rapport_sessions.domain.model import Session, SessionStatus
from rapport_sessions.domain.notes import NoteRecord
from rapport_sessions.tables import (
    notes_goals,
    notes_homework,
    notes_sessions,
    plan_refusals,
    prep_goal_facts,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework, GoalWording
from rapport_shared.contracts.sessions import SessionScheduled
from rapport_shared.eventsourcing.crypto import KeyRing, decrypt_text, is_encrypted
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.eventsourcing.privatestore import PrivateEventStore

REPLAY_PAGE = 1000


class NoteState(BaseModel):
    format: str
    sections: dict[str, str]
    body: str | None = Field(None, description="A free-format note's text (the skeleton's shape)")
    recorded_at: datetime


class SignatureState(BaseModel):
    signed_by: str
    signed_at: datetime
    content_sha256: str


class AddendumState(BaseModel):
    author: str
    reason: str
    text: str
    added_at: datetime


class CancellationState(BaseModel):
    cancelled_at: datetime
    reason: str
    explanation: str | None


class RefusedItem(BaseModel):
    """A goal or homework of the session's plan that the goals service could not apply: it was
    not created (no goal, homework or reminders for it). The rest of the plan was."""

    item_id: UUID = Field(description="The id the goal or homework would have had")
    kind: Literal["goal", "homework"]
    item_index: int = Field(description="Its position in the plan's goals or homework")
    reason: str = Field(description="Why, as a code (plan-item-refused's reason)")
    field: str = Field(description="The field at fault, as in the close request")
    refused_at: datetime


class SessionState(BaseModel):
    session_id: UUID
    clinic_id: str
    client_id: str
    counselor_id: str
    starts_at: datetime
    status: SessionStatus
    version: int
    note: NoteState | None = None
    signature: SignatureState | None = None
    addenda: list[AddendumState] = []
    started_at: datetime | None = None
    cancellation: CancellationState | None = None
    no_show_at: datetime | None = None
    closed_at: datetime | None = None
    next_session_at: datetime | None = None
    goals: list[AgreedGoal] = Field([], description="The plan as agreed at the close")
    homework: list[AgreedHomework] = []
    refused: list[RefusedItem] = Field(
        [], description="Items of the plan the goals service could not apply"
    )

    @classmethod
    def of(cls, session: Session) -> "SessionState":
        closing, cancellation = session.closing, session.cancellation
        return cls(
            session_id=session.session_id,
            clinic_id=session.clinic_id,
            client_id=session.client_id,
            counselor_id=session.counselor_id,
            starts_at=session.starts_at,
            status=session.status,
            version=session.version,
            **_note_fields(session.record),
            started_at=session.started_at,
            cancellation=CancellationState(**vars(cancellation)) if cancellation else None,
            no_show_at=session.no_show_at,
            closed_at=closing.closed_at if closing else None,
            next_session_at=closing.next_session_at if closing else None,
            goals=session.plan[0],
            homework=session.plan[1],
        )


def _note_fields(record: NoteRecord) -> dict[str, Any]:
    note, signature = record.note, record.signature
    return {
        "note": None
        if note is None
        else NoteState(
            format=note.format,
            sections=dict(note.sections),
            body=note.sections.get("text") if note.format == "free" else None,
            recorded_at=note.recorded_at,
        ),
        "signature": SignatureState(**vars(signature)) if signature else None,
        "addenda": [AddendumState(**vars(addendum)) for addendum in record.addenda],
    }


class ClientRecord(BaseModel):
    client_id: str
    as_of: datetime
    sessions: list[SessionState]


class GoalLine(BaseModel):
    goal_id: UUID
    description: str = Field(description="As agreed when the session closed")
    due_date: date
    revised: bool = Field(
        False,
        description="Revised since (in the goals service): the words here are the agreed ones",
    )


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
    goals: list[GoalLine] = Field(description="Created from the plan (refused ones excepted)")
    homework: list[HomeworkLine]
    refused: list[RefusedItem] = []


class ClientNotes(BaseModel):
    client_id: str
    sessions: list[SessionLine]


async def session_state(
    conn: AsyncConnection, store: EventStore, clinic_id: str, session_id: UUID
) -> SessionState:
    state = SessionState.of(await repository.load(conn, store, clinic_id, session_id))
    refused = await refused_items(conn, clinic_id, [session_id])
    return state.model_copy(update={"refused": refused.get(session_id, [])})


async def client_record(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str, as_of: datetime
) -> ClientRecord:
    """The client's sessions as they stood at as_of: the store's events up to then, replayed.

    A session's stream starts with its scheduling, which names the client, so the streams to
    keep are known by the time their later events come by."""
    histories: dict[str, list[EventContract]] = {}
    position = 0
    until = to_utc(as_of)
    while page := await store.read_all(
        conn, after_position=position, limit=REPLAY_PAGE, until=until
    ):
        for stored in page:
            event = stored.event
            if stored.stream_id in histories:
                event = (await store.decrypt(conn, stored)).event
                histories[stored.stream_id].append(event)
            elif (
                isinstance(event, SessionScheduled)
                and event.clinic_id == clinic_id
                and event.client_id == client_id
            ):
                histories[stored.stream_id] = [event]
        position = page[-1].position
    sessions = sorted(
        (Session.from_history(history) for history in histories.values()),
        key=lambda s: (s.starts_at, str(s.session_id)),
    )
    return ClientRecord(
        client_id=client_id, as_of=as_of, sessions=[SessionState.of(s) for s in sessions]
    )


async def client_notes(
    conn: AsyncConnection, keys: KeyRing, clinic_id: str, client_id: str
) -> ClientNotes:
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
    key = await keys.key(conn, clinic_id, client_id)
    revised = await revised_goals(conn, clinic_id, client_id)
    refused = await refused_items(conn, clinic_id, client_sessions)
    # A refused item was never created: it is listed as refused, not among the goals/homework.
    not_created = {item.item_id for items in refused.values() for item in items}
    goals = _by_session(
        {
            **row,
            "description": goal_words(key, clinic_id, client_id, row["description"]).description,
            "revised": row["goal_id"] in revised,
        }
        for row in goal_rows.mappings()
        if row["goal_id"] not in not_created
    )
    homework = _by_session(
        {**row, "instructions": decrypt_text(key, clinic_id, client_id, row["instructions"] or "")}
        for row in homework_rows.mappings()
        if row["homework_id"] not in not_created
    )
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
                refused=refused.get(row["session_id"], []),
            )
            for row in session_rows.mappings()
        ],
    )


async def refused_items(
    conn: AsyncConnection, clinic_id: str, session_ids: Select[Any] | Sequence[UUID]
) -> dict[UUID, list[RefusedItem]]:
    """The plan items the goals service refused, by session, in plan order."""
    refusals = plan_refusals.c
    rows = await conn.execute(
        select(plan_refusals)
        .where(refusals.session_id.in_(session_ids), refusals.clinic_id == clinic_id)
        .order_by(refusals.kind, refusals.item_index)
    )
    grouped: dict[UUID, list[RefusedItem]] = {}
    for row in rows.mappings():
        item = RefusedItem(**{**row, "refused_at": to_utc(row["refused_at"])})
        grouped.setdefault(row["session_id"], []).append(item)
    return grouped


def goal_words(key: bytes | None, clinic_id: str, client_id: str, stored: str) -> GoalWording:
    """A notes_goals row's words: an enc:v1 token of GoalWording JSON (empty once erased), or a
    description in clear written before revision 0003."""
    if not is_encrypted(stored):
        return GoalWording(description=stored)
    words = decrypt_text(key, clinic_id, client_id, stored)
    return GoalWording.model_validate_json(words) if words else GoalWording()


async def revised_goals(conn: AsyncConnection, clinic_id: str, client_id: str) -> set[UUID]:
    facts = prep_goal_facts.c
    rows = await conn.execute(
        select(facts.goal_id).where(
            facts.clinic_id == clinic_id, facts.client_id == client_id, facts.kind == "revised"
        )
    )
    return set(rows.scalars())


def _by_session(rows: Iterable[Mapping[str, Any]]) -> dict[UUID, list[dict[str, Any]]]:
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
