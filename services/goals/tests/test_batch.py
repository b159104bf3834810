"""The plans consumer's batch (handlers.begin_plans: erased clients read up front) must leave
exactly what planning its events one by one (handlers.plan_from_closed_session) leaves: the same
events and progress rows, with a client erased before the batch and a copy of a closing."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from goals_support import SEAL_KEY, agreed_goal, agreed_homework, session_closed
from sqlalchemy import delete, select

from rapport_devtools.testing import incoming
from rapport_goals.bootstrap import MIGRATIONS
from rapport_goals.domain.events import goals_registry
from rapport_goals.service_layer import handlers
from rapport_goals.tables import PROJECTION_TABLES
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.eventsourcing.crypto import KeyRing, client_keys
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.migrations import migrate
from rapport_shared.persistence.schema import events_table, outbox_table


async def _one_by_one(
    engine: Any, store: PrivateEventStore, batch: Sequence[IncomingEvent]
) -> None:
    async with engine.begin() as conn:
        for event in batch:
            await handlers.plan_from_closed_session(conn, event, store=store)


async def _as_a_batch(
    engine: Any, store: PrivateEventStore, batch: Sequence[IncomingEvent]
) -> None:
    async with engine.begin() as conn:
        apply = await handlers.begin_plans(conn, batch, store=store)
        for event in batch:
            await apply(conn, event)


def _comparable(value: Any) -> Any:
    # Encrypted words differ from run to run (a fresh key and nonce): only that they are there.
    return "encrypted" if isinstance(value, str) and value.startswith("enc:") else value


async def _state(engine: Any) -> dict[str, Any]:
    async with engine.connect() as conn:
        logged = await conn.execute(
            select(events_table.c.stream_id, events_table.c.version, events_table.c.event_type)
        )
        state: dict[str, Any] = {"events": sorted(logged.all())}
        for table in PROJECTION_TABLES:
            rows = await conn.execute(select(table))
            state[table.name] = sorted(
                (tuple(_comparable(v) for v in row) for row in rows), key=repr
            )
        return state


async def _clear(engine: Any) -> None:
    async with engine.begin() as conn:
        for table in (outbox_table, events_table, client_keys, *PROJECTION_TABLES):
            await conn.execute(delete(table))


async def test_a_batch_of_plans_leaves_what_one_by_one_leaves(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, MIGRATIONS)
        store = PrivateEventStore(goals_registry(), SEAL_KEY)
        soon = datetime.now(UTC) + timedelta(days=3)
        planned = session_closed([agreed_goal()], [agreed_homework(soon, goal_index=0)])
        batch = [
            planned,
            session_closed([agreed_goal()], client_id="client-gone"),
            planned,  # a copy of the closing (another event id): nothing twice
            session_closed([agreed_goal(), agreed_goal()], client_id="client-bo"),
        ]
        results = []
        for apply in (_one_by_one, _as_a_batch):
            await _clear(engine)
            async with engine.begin() as conn:
                await KeyRing().destroy(conn, "northside", "client-gone", datetime.now(UTC))
            await apply(engine, store, [incoming(event) for event in batch])
            results.append(await _state(engine))
        one_by_one, as_a_batch = results
        assert as_a_batch == one_by_one
        # It is a real test: three goals and one homework planned, nothing for the erased client.
        agreed = [e for e in one_by_one["events"] if e[2] == "goal-agreed"]
        assert len(agreed) == 3
        assert [e for e in one_by_one["events"] if e[2] == "homework-assigned"]
    finally:
        await engine.dispose()
