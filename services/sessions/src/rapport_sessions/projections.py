"""The notes projection: the sessions' own events (applied inline, in the command's transaction)
and the goals service's events (applied by the sessions-notes consumer) upsert one read model;
the same consumer also feeds the prep-brief projection (prep_projection.py).

The goals and homework of a session, and their words, come from the session's own closing
(session-closed and plan-worded), not from the goals service, whose events carry no words. The
words are stored as the event store keeps them, encrypted under the client's key; client-erased
deletes every row of the client.

Every update is an idempotent upsert keyed by the event's entity id, and the goals updates
commute (an assignment never touches completed_at, a completion touches nothing else), so
duplicates and out-of-order deliveries converge on the same rows.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions.domain.events import NoteRecorded, PlanWorded
from rapport_sessions.domain.model import SessionStatus
from rapport_sessions.prep_projection import PREP_CHANGES
from rapport_sessions.replay import replay_stream
from rapport_sessions.tables import (
    PROJECTION_TABLES,
    notes_goals,
    notes_homework,
    notes_sessions,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.goals import HomeworkCompleted
from rapport_shared.contracts.plan import derived_id
from rapport_shared.contracts.sessions import (
    ClientErased,
    SessionCancelled,
    SessionClosed,
    SessionNoShow,
    SessionScheduled,
    SessionStarted,
)
from rapport_shared.eventsourcing import projection
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.persistence.upserts import Upsert, upsert, write_all
from rapport_shared.runtime.service import ServiceRuntime

NOTES_CONSUMER = "sessions-notes"
REPLAY_PAGE = 1000


async def project(conn: AsyncConnection, event: EventContract) -> None:
    """Apply one event of any kind to the projection; kinds it does not show are ignored."""
    await project_all(conn, (event,))


async def project_all(conn: AsyncConnection, events: Iterable[EventContract]) -> None:
    """Apply events in order, as project() one at a time would. The upserts that are a function
    of the event alone (all the goals events) are written together, a table at a time, until an
    event that needs its own statements comes: per event, SQLAlchemy's cost of a statement was
    most of the sessions-notes consumer's time."""
    pending: list[Upsert] = []
    for event in events:
        if (apply := _UPDATES.get(type(event))) is not None:
            await write_all(conn, pending)
            pending = []
            await apply(conn, event)
        pending.extend(change(event) for change in _CHANGES.get(type(event), ()))
    await write_all(conn, pending)


async def session_scheduled(conn: AsyncConnection, event: SessionScheduled) -> None:
    row = {
        "session_id": event.session_id,
        "clinic_id": event.clinic_id,
        "client_id": event.client_id,
        "counselor_id": event.counselor_id,
        "starts_at": to_utc(event.starts_at),
        "status": SessionStatus.SCHEDULED.value,
        "has_note": False,
    }
    # A replayed copy must not reset the status or the note flag set by later events.
    await upsert(conn, notes_sessions, row, replace=())


async def note_recorded(conn: AsyncConnection, event: NoteRecorded) -> None:
    await _update_session(conn, event.session_id, has_note=True)


async def session_closed(conn: AsyncConnection, event: SessionClosed) -> None:
    await plan_closed(conn, event)
    await _update_session(
        conn,
        event.session_id,
        status=SessionStatus.CLOSED.value,
        closed_at=to_utc(event.closed_at),
        next_session_at=None if event.next_session_at is None else to_utc(event.next_session_at),
    )


async def session_started(conn: AsyncConnection, event: SessionStarted) -> None:
    await _update_session(conn, event.session_id, status=SessionStatus.IN_PROGRESS.value)


async def session_cancelled(conn: AsyncConnection, event: SessionCancelled) -> None:
    await _update_session(conn, event.session_id, status=SessionStatus.CANCELLED.value)


async def session_no_show(conn: AsyncConnection, event: SessionNoShow) -> None:
    await _update_session(conn, event.session_id, status=SessionStatus.NO_SHOW.value)


async def plan_closed(conn: AsyncConnection, event: SessionClosed) -> None:
    """The plan's goals and homework, from this service's own record of it: ids derived from
    the session as the goals service derives them, words filled in by plan_worded."""
    owner = {"clinic_id": event.clinic_id, "client_id": event.client_id}
    goal_ids = [derived_id(event.session_id, "goal", i) for i in range(len(event.goals))]
    for goal_id, goal in zip(goal_ids, event.goals, strict=True):
        row = {"goal_id": goal_id, "session_id": event.session_id, **owner}
        await upsert(conn, notes_goals, row | {"description": "", "due_date": goal.due_date}, ())
    for index, task in enumerate(event.homework):
        row = {
            "homework_id": derived_id(event.session_id, "homework", index),
            **owner,
            "session_id": event.session_id,
            "goal_id": None if task.goal_index is None else goal_ids[task.goal_index],
            "due_at": to_utc(task.due_at),
        }
        # A completion may have arrived first and made the row: keep its completed_at.
        await upsert(conn, notes_homework, row, replace=("session_id", "goal_id", "due_at"))


async def plan_worded(conn: AsyncConnection, event: PlanWorded) -> None:
    """The words, as the store keeps them (enc:v1 tokens): the views decrypt what they show."""
    for index, wording in enumerate(event.goals):
        goal_id = derived_id(event.session_id, "goal", index)
        await projection.execute(
            conn, projection.Update(notes_goals, goal_id, {"description": wording})
        )
    for index, instructions in enumerate(event.homework):
        homework_id = derived_id(event.session_id, "homework", index)
        await projection.execute(
            conn, projection.Update(notes_homework, homework_id, {"instructions": instructions})
        )


async def client_erased(conn: AsyncConnection, event: ClientErased) -> None:
    """Every projection row of the client goes (the event log stays, its words unreadable)."""
    for table in PROJECTION_TABLES:
        await conn.execute(
            delete(table).where(
                table.c.clinic_id == event.clinic_id, table.c.client_id == event.client_id
            )
        )


def homework_completed(event: HomeworkCompleted) -> Upsert:
    # The completion may arrive before its assignment: keep it in a row of its own, which the
    # assignment fills in later without touching completed_at.
    row = {
        "homework_id": event.homework_id,
        "clinic_id": event.clinic_id,
        "client_id": event.client_id,
        "completed_at": to_utc(event.completed_at),
    }
    return Upsert(notes_homework, row, replace=("completed_at",))


Update = Callable[[AsyncConnection, Any], Awaitable[None]]

# The sessions' own events: statements of their own, executed as they come.
_UPDATES: Mapping[type[EventContract], Update] = {
    SessionScheduled: session_scheduled,
    NoteRecorded: note_recorded,
    SessionStarted: session_started,
    SessionClosed: session_closed,
    PlanWorded: plan_worded,
    ClientErased: client_erased,
    SessionCancelled: session_cancelled,
    SessionNoShow: session_no_show,
}
# The goals events: upserts that commute (see prep_projection), written together by project_all.
_NOTES_CHANGES: Mapping[type[EventContract], Callable[[Any], Upsert]] = {
    HomeworkCompleted: homework_completed,
}
_CHANGES: Mapping[type[EventContract], tuple[Callable[[Any], Upsert], ...]] = {
    kind: tuple(found for changes in (_NOTES_CHANGES, PREP_CHANGES) if (found := changes.get(kind)))
    for kind in {*_NOTES_CHANGES, *PREP_CHANGES}
}
# The goals events the sessions-notes consumer subscribes to.
GOALS_SHOWN: tuple[type[EventContract], ...] = tuple(PREP_CHANGES)


async def replay(conn: AsyncConnection, runtime: ServiceRuntime[EventStore]) -> None:
    """Replay this service's events and the goals stream into the emptied tables through the
    same updates as live (ServiceRuntime.add_projection empties them and holds off live writers,
    which then land on top of the rebuilt rows: the updates are idempotent)."""
    if runtime.nc is None:
        raise RuntimeError("rebuild needs the NATS connection: start the runtime first")
    goals = next(s for s in runtime.subscriptions if s.durable == NOTES_CONSUMER)
    await _replay_own_events(conn, runtime.store)
    await replay_stream(conn, runtime.nc.jetstream(), runtime.registry, goals)


async def _replay_own_events(conn: AsyncConnection, store: EventStore) -> None:
    position = 0
    while page := await store.read_all(conn, after_position=position, limit=REPLAY_PAGE):
        for stored in page:
            await project(conn, stored.event)
        position = page[-1].position


async def _update_session(conn: AsyncConnection, session_id: UUID, **values: Any) -> None:
    await projection.execute(conn, projection.Update(notes_sessions, session_id, values))
