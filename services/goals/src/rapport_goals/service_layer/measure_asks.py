"""Measures on a schedule: setting a client's measurement plan, the asks that session events
and the periodic round make under it, and how each ask ends (fulfilled by a measure, missed at
its deadline, withdrawn with its cancelled session).

Each ask is its own stream with an id derived from what made it (domain.measurement.ask_id): a
stream that already exists was asked by an earlier copy of the same event or round, so it is
skipped and nothing is asked twice.
"""

import contextlib
import functools
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import structlog
from sqlalchemy import ColumnElement, Select, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals.domain.measurement import (
    MeasureAsk,
    MeasurementPlan,
    ask_stream,
    periodic_asks,
    plan_stream,
    session_asks,
)
from rapport_goals.service_layer.appending import record
from rapport_goals.tables import measure_asks, measurement_plans
from rapport_shared.contracts.clock import to_utc, utc_now
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.goals import (
    MeasureAskClosed,
    MeasureRecorded,
    MeasureRequested,
    MeasureSchedule,
)
from rapport_shared.contracts.sessions import (
    SessionCancelled,
    SessionClosed,
    SessionScheduled,
    SessionStarted,
)
from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict, EventStore
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.persistence.driver_sql import one_of, rows_among, rows_on_driver
from rapport_shared.persistence.upserts import upsert

log = structlog.get_logger(__name__)
# How many plans, and how many asks past their deadline, one round handles per transaction.
ROUND_BATCH = 100
# periodic_asks takes the asks after a moment: the first one falls exactly at first_at.
_JUST_BEFORE = timedelta(microseconds=1)
# What the goals-measure-asks consumer reads (session-closed is read by goals-plans).
SESSION_EVENTS = (
    SessionScheduled.event_type,
    SessionStarted.event_type,
    SessionCancelled.event_type,
)


async def load_plan(
    conn: AsyncConnection, store: EventStore, clinic_id: str, client_id: str
) -> MeasurementPlan:
    history = await store.load_events(conn, plan_stream(clinic_id, client_id))
    return MeasurementPlan.from_history(clinic_id, client_id, history)


async def set_plan(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    clinic_id: str,
    client_id: str,
    schedules: Sequence[MeasureSchedule],
    set_by: str,
    time_zone: str,
    first_at: datetime | None,
) -> None:
    """measurement-plan-set, the open asks it no longer makes withdrawn, and the client's row
    in measurement_plans: a plan with every-n-days schedules is in the periodic round (how far
    it has asked is kept across changes of the plan, so a change asks nothing again)."""
    plan = await load_plan(conn, store, clinic_id, client_id)
    event = plan.set(schedules, set_by, time_zone, first_at, now)
    await record(conn, store, plan_stream(clinic_id, client_id), plan.version, [event])
    # The open asks the plan no longer makes are withdrawn.
    kept = {(schedule.instrument, schedule.when) for schedule in schedules}
    mine = (measure_asks.c.clinic_id == clinic_id) & (measure_asks.c.client_id == client_id)
    for ask_id in await _open_asks(conn, mine):
        ask = await _load_ask(conn, store, ask_id)
        if (ask.requested.instrument, ask.requested.timing) not in kept:
            await _close(conn, store, ask, ask.withdraw(now))
    periodic = any(schedule.every_days is not None for schedule in schedules)
    row = {"clinic_id": clinic_id, "client_id": client_id, "periodic": periodic}
    await upsert(conn, measurement_plans, row | {"asked_through": None}, replace=("periodic",))


async def with_plans(
    conn: AsyncConnection, clients: Collection[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of these (clinic, client) have a measurement plan: one query for a batch, run on
    the driver (every batch of closed sessions asks)."""
    wanted = set(clients)
    if not wanted:
        return set()
    found = await rows_among(conn, _plans_among, sorted({c for _, c in wanted}), {})
    return {(clinic_id, client_id) for clinic_id, client_id in found} & wanted


@functools.cache
def _plans_among(count: int) -> Select[tuple[str, str]]:
    plans = measurement_plans.c
    return select(plans.clinic_id, plans.client_id).where(one_of(plans.client_id, count))


async def from_session(
    conn: AsyncConnection, incoming: IncomingEvent, *, store: PrivateEventStore
) -> None:
    """session-scheduled, session-started: the asks the client's plan makes for that moment;
    session-cancelled: the session's open asks are withdrawn. Nothing for an erased client.
    (session-closed's asks are made with its plan: handlers.plan_from_closed_session.)"""
    event = incoming.contract
    if not isinstance(event, SessionScheduled | SessionStarted | SessionCancelled):
        raise TypeError(f"expected a session event, got {incoming.event_type}")
    if await store.keys.is_erased(conn, event.clinic_id, event.client_id):
        return
    now = utc_now()
    if isinstance(event, SessionCancelled):
        await _withdraw(conn, store, event, now)
    else:
        await for_session(conn, store, event, now)


async def for_session(
    conn: AsyncConnection,
    store: EventStore,
    event: SessionScheduled | SessionStarted | SessionClosed,
    now: datetime,
) -> None:
    """The asks the client's measurement plan makes for this moment of a session."""
    plan = await load_plan(conn, store, event.clinic_id, event.client_id)
    await _ask(conn, store, session_asks(plan.current, event, now))


# Built once and run on the driver: it is read with every measure recorded.
_OPEN_FOR_INSTRUMENT = select(measure_asks.c.ask_id).where(
    measure_asks.c.clinic_id == bindparam("clinic_id"),
    measure_asks.c.client_id == bindparam("client_id"),
    measure_asks.c.status == bindparam("open"),
    measure_asks.c.instrument == bindparam("instrument"),
)


async def fulfil(conn: AsyncConnection, store: EventStore, recorded: MeasureRecorded) -> None:
    """Close the client's open asks for this instrument that the measure answers."""
    asks = await rows_on_driver(
        conn,
        _OPEN_FOR_INSTRUMENT,
        {
            "clinic_id": recorded.clinic_id,
            "client_id": recorded.client_id,
            "open": "open",
            "instrument": recorded.instrument,
        },
    )
    # The driver's own value: a UUID from asyncpg, its hex text from SQLite.
    for ask_id in sorted(UUID(str(value)) for (value,) in asks):
        ask = await _load_ask(conn, store, ask_id)
        await _close(conn, store, ask, ask.fulfil(recorded))


async def round_at(conn: AsyncConnection, store: EventStore, now: datetime) -> tuple[int, int]:
    """The periodic round: every-n-days asks falling up to now, and the open asks whose
    deadline has passed recorded as missed (at most ROUND_BATCH of each); returns how many of
    each. An ask that changed meanwhile (a measure fulfilled it) conflicts and is judged again on
    the next round."""
    return await _periodic(conn, store, now), await _missed(conn, store, now)


async def _periodic(conn: AsyncConnection, store: EventStore, now: datetime) -> int:
    plans = measurement_plans.c
    due = await conn.execute(
        select(plans.clinic_id, plans.client_id, plans.asked_through)
        .where(plans.periodic, or_(plans.asked_through.is_(None), plans.asked_through < now))
        .limit(ROUND_BATCH)
    )
    asked = 0
    for clinic_id, client_id, asked_through in due.all():
        plan = (await load_plan(conn, store, clinic_id, client_id)).current
        if plan is not None and plan.first_at is not None:
            after = to_utc(asked_through) if asked_through else plan.first_at - _JUST_BEFORE
            asked += await _ask(conn, store, periodic_asks(plan, after, now))
        await conn.execute(
            update(measurement_plans)
            .where(plans.clinic_id == clinic_id, plans.client_id == client_id)
            .values(asked_through=now)
        )
    return asked


async def _missed(conn: AsyncConnection, store: EventStore, now: datetime) -> int:
    past = await _open_asks(conn, measure_asks.c.deadline <= now, limit=ROUND_BATCH)
    missed = 0
    for ask_id in past:
        ask = await _load_ask(conn, store, ask_id)
        try:  # one event: a conflict writes nothing, so no savepoint is needed
            missed += await _close(conn, store, ask, ask.miss(now))
        except ConcurrencyConflict:
            log.info("measure ask changed while checking for misses", ask_id=ask_id)
    return missed


async def _withdraw(
    conn: AsyncConnection, store: EventStore, cancelled: SessionCancelled, now: datetime
) -> None:
    asks = await _open_asks(
        conn,
        (measure_asks.c.clinic_id == cancelled.clinic_id)
        & (measure_asks.c.session_id == cancelled.session_id),
    )
    for ask_id in asks:
        ask = await _load_ask(conn, store, ask_id)
        await _close(conn, store, ask, ask.withdraw(now))


async def _ask(conn: AsyncConnection, store: EventStore, asks: Sequence[MeasureRequested]) -> int:
    """Appends each ask on its own new stream; one already there was asked before."""
    asked = 0
    for ask in asks:
        with contextlib.suppress(ConcurrencyConflict):
            await record(conn, store, ask_stream(ask.ask_id), 0, [ask])
            asked += 1
    return asked


async def _close(
    conn: AsyncConnection, store: EventStore, ask: MeasureAsk, closed: MeasureAskClosed | None
) -> int:
    if closed is None:
        return 0
    await record(conn, store, ask_stream(ask.requested.ask_id), ask.version, [closed])
    return 1


async def _open_asks(
    conn: AsyncConnection, where: ColumnElement[bool], limit: int | None = None
) -> list[UUID]:
    query = (
        select(measure_asks.c.ask_id)
        .where(measure_asks.c.status == "open", where)
        .order_by(measure_asks.c.deadline, measure_asks.c.ask_id)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


async def _load_ask(conn: AsyncConnection, store: EventStore, ask_id: UUID) -> MeasureAsk:
    return MeasureAsk.from_history(await store.load_events(conn, ask_stream(ask_id)))
