"""Command handlers (called by the API), event handlers (called by consumers) and the
missed-homework check (called by a background loop).

Each runs inside the transaction its caller opened, at the time its caller read: the events it
appends, their outbox rows and the read model rows from projections.apply commit together, or
not at all.
"""

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals import projections
from rapport_goals.domain import measures
from rapport_goals.domain.commands import (
    AgreeGoal,
    AssignHomework,
    ChangeGoalStatus,
    CompleteHomework,
    RecordMeasure,
    ReviewGoal,
    ReviseGoal,
)
from rapport_goals.domain.goal import Goal, goal_stream
from rapport_goals.domain.homework import Homework, homework_stream
from rapport_goals.domain.model import ExtraRule, plan_from_session
from rapport_goals.service_layer import measure_asks, risk_flags
from rapport_goals.service_layer.appending import record
from rapport_goals.tables import client_homework
from rapport_shared.contracts.clock import utc_now
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.errors import InvalidState, NotFound
from rapport_shared.contracts.goals import (
    GoalAgreed,
    HomeworkAssigned,
    HomeworkCompleted,
    HomeworkMissed,
    MeasureRecorded,
)
from rapport_shared.contracts.history import found
from rapport_shared.contracts.sessions import ClientErased, SessionClosed
from rapport_shared.eventsourcing.crypto import unseal_wording
from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict, EventStore
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.messaging.consumer import Handler
from rapport_shared.security.erasure import shred

log = structlog.get_logger(__name__)
# How many past-due homework one pass of the missed-homework check handles per transaction.
MISSED_BATCH = 100


async def agree_goal(
    conn: AsyncConnection, store: EventStore, now: datetime, command: AgreeGoal
) -> None:
    events = [Goal.agree(command, agreed_at=now), Goal.worded(command)]
    try:
        await record(conn, store, goal_stream(command.goal_id), 0, events)
    except ConcurrencyConflict:
        raise InvalidState(f"goal {command.goal_id} already exists", field="goal_id") from None


async def revise_goal(
    conn: AsyncConnection, store: EventStore, now: datetime, command: ReviseGoal
) -> None:
    goal = await _goal(conn, store, command.clinic_id, command.goal_id)
    await record(conn, store, goal_stream(goal.goal_id), goal.version, goal.revise(command, now))


async def change_goal_status(
    conn: AsyncConnection, store: EventStore, now: datetime, command: ChangeGoalStatus
) -> None:
    goal = await _goal(conn, store, command.clinic_id, command.goal_id)
    event = goal.change_status(command, now)
    await record(conn, store, goal_stream(goal.goal_id), goal.version, [event])


async def review_goal(
    conn: AsyncConnection, store: EventStore, now: datetime, command: ReviewGoal
) -> None:
    goal = await _goal(conn, store, command.clinic_id, command.goal_id)
    await record(conn, store, goal_stream(goal.goal_id), goal.version, [goal.review(command, now)])


async def assign_homework(
    conn: AsyncConnection, store: EventStore, now: datetime, command: AssignHomework
) -> None:
    goal = None
    if command.goal_id is not None:
        with contextlib.suppress(NotFound):  # no such goal: assign() refuses the homework
            goal = await _goal(conn, store, command.clinic_id, command.goal_id)
    events = [Homework.assign(command, goal, assigned_at=now), Homework.instructed(command)]
    try:
        await record(conn, store, homework_stream(command.homework_id), 0, events)
    except ConcurrencyConflict:
        raise InvalidState(
            f"homework {command.homework_id} already exists", field="homework_id"
        ) from None


async def complete_homework(
    conn: AsyncConnection, store: EventStore, now: datetime, command: CompleteHomework
) -> HomeworkCompleted:
    homework = await _homework(conn, store, command.clinic_id, command.homework_id)
    events = homework.complete(command, now=now)
    # A completion racing this one makes the append conflict: a 409, never a second completion.
    await record(conn, store, homework_stream(homework.homework_id), homework.version, events)
    completed = events[0]
    assert isinstance(completed, HomeworkCompleted)
    return completed


async def cancel_homework(
    conn: AsyncConnection, store: EventStore, now: datetime, clinic_id: str, homework_id: UUID
) -> None:
    homework = await _homework(conn, store, clinic_id, homework_id)
    event = homework.cancel(now)
    await record(conn, store, homework_stream(homework.homework_id), homework.version, [event])


async def record_measure(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    command: RecordMeasure,
    alliance_threshold: int,
) -> None:
    """The measure (and an alliance alert), the risk flags it raises under the clinic's risk
    settings, and the closing of the client's open asks it answers: one transaction."""
    events = measures.record(command, now, alliance_threshold)
    try:
        await record(conn, store, measures.measure_stream(command.measure_id), 0, events)
    except ConcurrencyConflict:
        raise InvalidState(
            f"measure {command.measure_id} already exists", field="measure_id"
        ) from None
    recorded = events[0]
    assert isinstance(recorded, MeasureRecorded)
    await risk_flags.raise_flags(conn, store, recorded, now)
    await measure_asks.fulfil(conn, store, recorded)


async def record_missed_homework(
    conn: AsyncConnection, store: EventStore, now: datetime, grace: timedelta
) -> int:
    """Appends homework-missed for every open occurrence due more than `grace` ago (at most
    MISSED_BATCH homework per call); returns how many. Idempotent: the aggregate knows which
    occurrences are already recorded, and a completion or another check racing this one makes
    the append conflict, so it is skipped (its savepoint rolled back) and judged again on the
    next pass."""
    recorded = 0
    rows = await conn.execute(
        select(client_homework.c.clinic_id, client_homework.c.homework_id)
        .where(client_homework.c.next_due_at < now - grace)
        .order_by(client_homework.c.next_due_at)
        .limit(MISSED_BATCH)
    )
    for clinic_id, homework_id in rows.all():
        homework = await _homework(conn, store, clinic_id, homework_id)
        missed: list[HomeworkMissed] = homework.missed(now, grace)
        if not missed:
            continue
        try:
            async with conn.begin_nested():
                stream = homework_stream(homework_id)
                await record(conn, store, stream, homework.version, missed)
        except ConcurrencyConflict:
            log.info("homework changed while checking for misses", homework_id=homework_id)
            continue
        recorded += len(missed)
    return recorded


async def plan_from_closed_session(
    conn: AsyncConnection,
    incoming: IncomingEvent,
    *,
    store: PrivateEventStore,
    extra_rule: ExtraRule | None = None,
) -> None:
    """session-closed -> goal-agreed and homework-assigned (or plan-item-refused for an item
    that cannot be applied), each on a stream derived from the session, and the session-end
    measures the client's plan asks for (measure-requested). A stream that already
    exists was created by an earlier copy of this event (a redelivery, a replayed dead letter):
    it is skipped, so nothing is created twice."""
    session = _closed(incoming)
    if await store.keys.is_erased(conn, session.clinic_id, session.client_id):
        return  # closed before the client was erased, delivered after: nothing to keep
    await _plan(conn, session, store, extra_rule)
    await measure_asks.for_session(conn, store, session, utc_now())


async def begin_plans(
    conn: AsyncConnection,
    batch: Sequence[IncomingEvent],
    *,
    store: PrivateEventStore,
    extra_rule: ExtraRule | None = None,
) -> Handler:
    """A consumer's batch of session-closed (Subscription.begin_batch): which of its clients are
    erased, and which have a measurement plan, in a query each; then each event as
    plan_from_closed_session would plan it. (Erasures
    are another consumer's: none is applied between this read and the batch's commit, as the
    batch is one transaction.)"""
    sessions = [_closed(incoming) for incoming in batch]
    clients = [(s.clinic_id, s.client_id) for s in sessions]
    erased = await store.keys.erased_among(conn, clients)
    # Only a client with a measurement plan can be asked for session-end measures.
    planned = await measure_asks.with_plans(conn, set(clients) - set(erased))
    now = utc_now()

    async def apply(conn: AsyncConnection, incoming: IncomingEvent) -> None:
        session = _closed(incoming)
        client = (session.clinic_id, session.client_id)
        if client not in erased:
            await _plan(conn, session, store, extra_rule)
        if client in planned:
            await measure_asks.for_session(conn, store, session, now)

    return apply


async def _plan(
    conn: AsyncConnection,
    session: SessionClosed,
    store: PrivateEventStore,
    extra_rule: ExtraRule | None,
) -> None:
    # A v1 session-closed has no sealed words (its words were dropped): planned without words.
    # A seal that does not open with this service's key (RAPPORT_PLAN_SEAL_KEY differs) raises,
    # so the event is retried and dead-lettered rather than planned without its words.
    wording = unseal_wording(store.seal_key, session.sealed_wording)
    for stream_id, events in plan_from_session(session, wording, extra_rule):
        with contextlib.suppress(ConcurrencyConflict):
            await record(conn, store, stream_id, 0, events)


def _closed(incoming: IncomingEvent) -> SessionClosed:
    session = incoming.contract
    if not isinstance(session, SessionClosed):
        raise TypeError(f"expected session-closed, got {incoming.event_type}")
    return session


async def erase_client(
    conn: AsyncConnection, incoming: IncomingEvent, *, store: PrivateEventStore
) -> None:
    """client-erased: destroy the client's key here too and purge their rows. Their events
    stay in the log; what they hold in words is unreadable from now on."""
    erased = incoming.contract
    if not isinstance(erased, ClientErased):
        raise TypeError(f"expected client-erased, got {incoming.event_type}")
    await shred(conn, store.keys, erased.clinic_id, erased.client_id, erased.erased_at)
    await projections.purge_client(conn, erased.clinic_id, erased.client_id)


async def _goal(conn: AsyncConnection, store: EventStore, clinic_id: str, goal_id: UUID) -> Goal:
    history = await store.load_events(conn, goal_stream(goal_id))
    return Goal.from_history(
        found(history, GoalAgreed, clinic_id, name="goal", aggregate_id=goal_id)
    )


async def _homework(
    conn: AsyncConnection, store: EventStore, clinic_id: str, homework_id: UUID
) -> Homework:
    history = await store.load_events(conn, homework_stream(homework_id))
    return Homework.from_history(
        found(history, HomeworkAssigned, clinic_id, name="homework", aggregate_id=homework_id)
    )
