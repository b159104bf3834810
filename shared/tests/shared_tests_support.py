"""A tiny service made of the shared parts only: it appends goal-agreed events, and a consumer
counts them into a projection table. The shared library's tests drive it."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

from nats.aio.client import Client as NATS
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.contracts import public_registry
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.goals import GoalAgreed
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.messaging import connection
from rapport_shared.messaging.consumer import ConsumerRunner, Handler, Subscription
from rapport_shared.messaging.outbox import OutboxRelay
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.schema import add_core_tables

test_metadata = MetaData()
add_core_tables(test_metadata)
goal_counts = Table(
    "goal_counts",
    test_metadata,
    Column("client_id", String(64), primary_key=True),
    Column("goals", Integer, nullable=False),
)

# A goal agreed by this counselor makes the test handler fail every time.
POISON_COUNSELOR = "poison"


def goal(client_id: str = "c1", counselor_id: str = "k1", clinic: str = "northside") -> GoalAgreed:
    return GoalAgreed(
        clinic_id=clinic,
        goal_id=uuid4(),
        client_id=client_id,
        counselor_id=counselor_id,
        due_date=date(2030, 1, 1),
        agreed_at=datetime.now(UTC),
    )


async def count_goal(conn: AsyncConnection, incoming: IncomingEvent) -> None:
    event = incoming.contract
    assert isinstance(event, GoalAgreed)
    if event.counselor_id == POISON_COUNSELOR:
        raise RuntimeError("this event always fails")
    row = (
        await conn.execute(select(goal_counts).where(goal_counts.c.client_id == event.client_id))
    ).first()
    if row is None:
        await conn.execute(goal_counts.insert().values(client_id=event.client_id, goals=1))
    else:
        await conn.execute(
            goal_counts.update()
            .where(goal_counts.c.client_id == event.client_id)
            .values(goals=row.goals + 1)
        )


async def count_goals(conn: AsyncConnection, batch: Sequence[IncomingEvent]) -> None:
    """count_goal as a batch handler: records what it is given in batches_applied."""
    batches_applied.append([incoming.event_id for incoming in batch])
    for incoming in batch:
        await count_goal(conn, incoming)


async def begin_counting(conn: AsyncConnection, batch: Sequence[IncomingEvent]) -> Handler:
    """count_goal through Subscription.begin_batch: records what it is given in
    batches_applied."""
    batches_applied.append([incoming.event_id for incoming in batch])
    return count_goal


batches_applied: list[list[str]] = []


@dataclass
class Pipeline:
    engine: AsyncEngine
    nc: NATS
    store: EventStore
    relay: OutboxRelay
    consumer: ConsumerRunner
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def append_goal(self, event: GoalAgreed, stream: UUID | None = None) -> None:
        async with self.engine.begin() as conn:
            await self.store.append(conn, f"goal-{stream or event.goal_id}", 0, [event])
        self.relay.notify()

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(goal_counts))
            return {r.client_id: r.goals for r in rows}


@contextlib.asynccontextmanager
async def engine_with(database_url: str, *tables: Table) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database with these tables created."""
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        for table in tables:
            await conn.run_sync(table.create)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def running_pipeline(
    database_url: str,
    nats_url: str,
    *,
    max_deliveries: int = 3,
    start: bool = True,
    replicas: int = 1,
    ack_wait_seconds: float = 30.0,
    batched: str | None = None,
    linger_seconds: float = 0.0,
) -> AsyncIterator[Pipeline]:
    """nats_url may list several servers (a cluster), comma-separated. batched: "apply_batch",
    the consumer applies whole batches with count_goals; "begin_batch", with begin_counting."""
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(test_metadata.create_all)
    nc = await connection.connect(nats_url, "test")
    js = nc.jetstream()
    await connection.ensure_stream(js, "goals", replicas=replicas)
    registry = public_registry()
    subscription = Subscription(
        durable="test-counter",
        source_service="goals",
        handlers={"goal-agreed": count_goal},
        apply_batch=count_goals if batched == "apply_batch" else None,
        begin_batch=begin_counting if batched == "begin_batch" else None,
        linger_seconds=linger_seconds,
    )
    batches_applied.clear()
    pipeline = Pipeline(
        engine=engine,
        nc=nc,
        store=EventStore(registry),
        relay=OutboxRelay(engine, js, registry, poll_interval=0.2),
        consumer=ConsumerRunner(
            engine,
            js,
            registry,
            subscription,
            max_deliveries=max_deliveries,
            retry_base_seconds=0.01,
            fetch_timeout=0.2,
            ack_wait_seconds=ack_wait_seconds,
        ),
    )
    if start:
        pipeline.tasks = [
            asyncio.create_task(pipeline.relay.run()),
            asyncio.create_task(pipeline.consumer.run()),
        ]
    try:
        yield pipeline
    finally:
        for task in pipeline.tasks:
            task.cancel()
        await asyncio.gather(*pipeline.tasks, return_exceptions=True)
        await nc.close()
        await engine.dispose()


MIGRATIONS = Path(__file__).parent
