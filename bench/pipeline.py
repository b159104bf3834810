"""Events per second from a service's outbox into another service's projection, against raw
JetStream (nats-py async publish plus a pull consumer) moving the very same messages.

Rapport's side is the real thing in one process: the goals schema's events table holds the
events waiting to go out (on SQLite it is the outbox: rapport_shared.messaging.outbox), the shared
OutboxRelay publishes them, and the shared ConsumerRunner applies them to the sessions
service's notes projection (its real subscription and handlers) on SQLite. The raw side publishes
the same subjects, payloads and headers (Nats-Msg-Id included) to a stream of its own and acks
each message on a durable pull consumer, doing nothing else.
"""

import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from sqlalchemy import insert, select

from bench.common import Report, event_row, median, plan_events, running_nats
from rapport_goals.bootstrap import MIGRATIONS as GOALS_MIGRATIONS
from rapport_goals.domain.events import goals_registry
from rapport_sessions.bootstrap import MIGRATIONS as SESSIONS_MIGRATIONS
from rapport_sessions.bootstrap import build_runtime as sessions_runtime
from rapport_sessions.domain.events import sessions_registry
from rapport_sessions.projections import NOTES_CONSUMER
from rapport_sessions.settings import SessionsSettings
from rapport_shared.contracts import envelope
from rapport_shared.contracts.base import EventContract
from rapport_shared.messaging import connection
from rapport_shared.messaging.consumer import ConsumerRunner
from rapport_shared.messaging.outbox import OutboxRelay
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.migrations import migrate
from rapport_shared.persistence.schema import checkpoints_table, events_table
from rapport_shared.runtime.settings import ServiceSettings

EVENTS = 2000
ROUNDS = 5
DEADLINE_SECONDS = 120.0
DEFAULTS = ServiceSettings()  # relay and consumer batch sizes as a service runs them


def outbox_rows(events: list[EventContract]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Event rows as EventStore.append writes them, for inserting in bulk (setup is not timed),
    and the messages the relay makes of them, as the outbox rows PostgreSQL would hold."""
    now = datetime.now(UTC)
    stored, outbox = [], []
    for position, event in enumerate(events, start=1):
        event_id, stream_id, meta = (
            str(uuid.uuid4()),
            f"bench-{uuid.uuid4()}",
            {"correlation_id": "b"},
        )
        message = envelope.encode(
            event, event_id=event_id, stream_id=stream_id, occurred_at=now, metadata=meta
        )
        stored.append(event_row(event, position, event_id, stream_id, now, meta))
        outbox.append(
            {
                "position": position,
                "subject": message.subject,
                "headers": message.headers,
                "payload": message.payload,
                "created_at": now,
            }
        )
    return stored, outbox


async def rapport_rate(nats_url: str, scratch: Path, events: list[EventContract]) -> float:
    source = create_engine(f"sqlite+aiosqlite:///{scratch / 'goals.db'}")
    target = create_engine(f"sqlite+aiosqlite:///{scratch / 'sessions.db'}")
    await migrate(source, GOALS_MIGRATIONS)
    await migrate(target, SESSIONS_MIGRATIONS)
    stored, _ = outbox_rows(events)
    async with source.begin() as conn:  # on SQLite, no outbox rows: the relay reads the log
        await conn.execute(insert(events_table), stored)
    nc = await connection.connect(nats_url, "bench-pipeline")
    js = nc.jetstream()
    await connection.ensure_stream(js, "goals")
    relay = OutboxRelay(source, js, goals_registry(), batch_size=DEFAULTS.relay_batch_size)
    # The notes subscription as the sessions service's bootstrap declares it, without lingering.
    sessions = sessions_runtime(
        SessionsSettings(data_dir=str(scratch), consumer_linger_seconds=0.0)
    )
    notes = next(s for s in sessions.subscriptions if s.durable == NOTES_CONSUMER)
    consumer = ConsumerRunner(
        target, js, sessions_registry(), notes, batch_size=DEFAULTS.consumer_batch_size
    )
    started = time.perf_counter()
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
    try:
        while consumer.applied < len(events):
            await asyncio.sleep(0.005)
            if time.perf_counter() - started > DEADLINE_SECONDS:
                raise TimeoutError(f"only {consumer.applied}/{len(events)} applied")
        # applied counts inside the batch's transaction: wait for its commit too
        while await checkpoint(target) < len(events):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.002)
        return len(events) / (time.perf_counter() - started)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()
        await source.dispose()
        await target.dispose()
        await sessions.engine.dispose()


async def checkpoint(engine: Any) -> int:
    async with engine.connect() as conn:
        value = (await conn.execute(select(checkpoints_table.c.stream_sequence))).scalar()
    return int(value or 0)


async def raw_rate(nats_url: str, events: list[EventContract]) -> float:
    _, outbox = outbox_rows(events)
    nc = NATS()
    await nc.connect(nats_url, name="bench-raw")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCH_RAW", subjects=["bench.>"], duplicate_window=120))
    await js.add_consumer(
        "BENCH_RAW", ConsumerConfig(durable_name="raw", ack_policy=AckPolicy.EXPLICIT)
    )
    pull = await js.pull_subscribe_bind(durable="raw", stream="BENCH_RAW")

    async def publish() -> None:
        futures = [
            await js.publish_async(
                f"bench.{row['subject']}", row["payload"], headers=row["headers"]
            )
            for row in outbox
        ]
        await asyncio.gather(*futures)

    async def consume() -> None:
        received = 0
        while received < len(outbox):
            try:
                messages = await pull.fetch(DEFAULTS.consumer_batch_size, timeout=1.0)
            except TimeoutError:
                continue
            for message in messages:
                await message.ack()
            received += len(messages)

    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(publish(), consume()), DEADLINE_SECONDS)
        return len(outbox) / (time.perf_counter() - started)
    finally:
        await nc.close()


async def run(report: Report, _postgres_missing: str | None) -> None:
    events = plan_events(EVENTS)
    raws, rapports = [], []
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as scratch:
        # A run moves 2,000 events in well under a second: a short window that a neighbour's
        # burst of work can spoil. Several rounds, each side alternately first, each round on a
        # fresh broker and databases; the ratio is of the medians.
        for round_ in range(ROUNDS):
            here = Path(scratch) / f"round-{round_}"
            here.mkdir()
            with running_nats(here / "nats") as nats:
                if round_ % 2 == 0:
                    raws.append(await raw_rate(nats.url, events))
                    rapports.append(await rapport_rate(nats.url, here, events))
                else:
                    rapports.append(await rapport_rate(nats.url, here, events))
                    raws.append(await raw_rate(nats.url, events))
    rapport, raw = median(rapports), median(raws)
    report.set("pipeline_ratio_vs_raw_jetstream", rapport / raw)
    report.note(
        "pipeline",
        events=EVENTS,
        rounds=ROUNDS,
        rapport_events_per_s=round(rapport),
        raw_jetstream_events_per_s=round(raw),
        each_round={"rapport": [round(r) for r in rapports], "raw": [round(r) for r in raws]},
        database="SQLite (WAL, synchronous=NORMAL) for both the events read and the projection",
    )
