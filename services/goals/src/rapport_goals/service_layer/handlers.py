"""Command handlers (called by the API) and event handlers (called by consumers).

Each runs inside the caller's transaction: the events it appends, their outbox rows and the read
model rows from projections.apply commit together, or not at all.
"""

import contextlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals import projections
from rapport_goals.domain.commands import AgreeGoal, AssignHomework, CompleteHomework
from rapport_goals.domain.model import (
    Goal,
    Homework,
    goal_stream,
    homework_stream,
    plan_from_session,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import HomeworkCompleted
from rapport_shared.contracts.sessions import SessionClosed
from rapport_shared.envelope import IncomingEvent
from rapport_shared.errors import InvalidState
from rapport_shared.eventstore import ConcurrencyConflict, EventStore


async def agree_goal(
    conn: AsyncConnection, store: EventStore, command: AgreeGoal, now: datetime
) -> None:
    event = Goal.agree(command, agreed_at=now)
    try:
        await record(conn, store, goal_stream(command.goal_id), 0, [event])
    except ConcurrencyConflict:
        raise InvalidState(f"goal {command.goal_id} already exists", field="goal_id") from None


async def assign_homework(
    conn: AsyncConnection, store: EventStore, command: AssignHomework, now: datetime
) -> None:
    goal = None
    if command.goal_id is not None:
        goal = Goal.from_history(await _history(conn, store, goal_stream(command.goal_id)))
    event = Homework.assign(command, goal, assigned_at=now)
    try:
        await record(conn, store, homework_stream(command.homework_id), 0, [event])
    except ConcurrencyConflict:
        raise InvalidState(
            f"homework {command.homework_id} already exists", field="homework_id"
        ) from None


async def complete_homework(
    conn: AsyncConnection, store: EventStore, command: CompleteHomework, now: datetime
) -> HomeworkCompleted:
    stream_id = homework_stream(command.homework_id)
    homework = Homework.from_history(
        command.clinic_id, command.homework_id, await _history(conn, store, stream_id)
    )
    event = homework.complete(command.completed_at or now, now=now)
    # A completion racing this one makes the append conflict: a 409, never a second completion.
    await record(conn, store, stream_id, homework.version, [event])
    return event


async def plan_from_closed_session(
    conn: AsyncConnection, incoming: IncomingEvent, *, store: EventStore
) -> None:
    """session-closed -> goal-agreed and homework-assigned, each on a stream derived from the
    session. A stream that already exists was created by an earlier copy of this event (a
    redelivery, a replayed dead letter): it is skipped, so nothing is created twice."""
    session = incoming.contract
    if not isinstance(session, SessionClosed):
        raise TypeError(f"expected session-closed, got {incoming.event_type}")
    for stream_id, event in plan_from_session(session):
        with contextlib.suppress(ConcurrencyConflict):
            await record(conn, store, stream_id, 0, [event])


async def record(
    conn: AsyncConnection,
    store: EventStore,
    stream_id: str,
    expected_version: int,
    events: Sequence[EventContract],
) -> None:
    """Append and project in one go: the read model is part of the same transaction."""
    for stored in await store.append(conn, stream_id, expected_version, events):
        await projections.apply(conn, stored.event)


async def _history(conn: AsyncConnection, store: EventStore, stream_id: str) -> list[EventContract]:
    return [stored.event for stored in await store.load(conn, stream_id)]
