"""What a service can say about its own health: a snapshot read from the database and the
broker (backlog, lag, dead letters), served as Prometheus metrics at /metrics and as JSON at
/admin/status. Figures are read when asked for rather than counted in the hot path, so they are
right across restarts and replicas."""

import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Gauge, GCCollector, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.messaging import quarantine
from rapport_shared.messaging.consumer import ConsumerRunner
from rapport_shared.messaging.outbox import backlog as outbox_backlog
from rapport_shared.persistence.schema import checkpoints_table, dead_letters_table, events_table

Refresher = Callable[[AsyncConnection], Awaitable[None]]


@dataclass
class ConsumerState:
    name: str
    stream: str
    lag: float | None
    checkpoint: int | None
    projection_lag_seconds: float
    dead_letters: int


@dataclass
class ServiceSnapshot:
    events: int
    outbox_backlog: int
    outbox_oldest_age_seconds: float
    # Events the broker refused for good, waiting for an operator
    # (rapport_shared.messaging.quarantine).
    outbox_quarantined: int
    # Readiness does not depend on the broker (the outbox keeps what commands append while it is
    # away), so whether the service is connected to it is told here.
    broker_connected: bool
    consumers: list[ConsumerState] = field(default_factory=list)


async def take_snapshot(
    engine: AsyncEngine, js: JetStreamContext | None, consumers: list[ConsumerRunner]
) -> ServiceSnapshot:
    now = datetime.now(UTC)
    async with engine.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(events_table))).scalar_one()
        backlog, oldest = await outbox_backlog(conn)
        quarantined = await quarantine.count(conn)
        dead: dict[str, int] = dict(
            (
                await conn.execute(
                    select(dead_letters_table.c.consumer, func.count()).group_by(
                        dead_letters_table.c.consumer
                    )
                )
            ).all()
        )
        checkpoints = {row.consumer: row for row in await conn.execute(select(checkpoints_table))}
    # js is None while the connection is down (ServiceRuntime.jetstream).
    snapshot = ServiceSnapshot(
        events, backlog, _age(now, oldest), quarantined, broker_connected=js is not None
    )
    for runner in consumers:
        lag = await _consumer_lag(js, runner)
        checkpoint = checkpoints.get(runner.name)
        behind_since = checkpoint.updated_at if checkpoint is not None else None
        snapshot.consumers.append(
            ConsumerState(
                name=runner.name,
                stream=runner.subscription.stream,
                lag=lag,
                checkpoint=checkpoint.stream_sequence if checkpoint is not None else None,
                projection_lag_seconds=_age(now, behind_since) if lag else 0.0,
                dead_letters=int(dead.get(runner.name, 0)),
            )
        )
    return snapshot


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_latency = Histogram(
            "rapport_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=r,
        )
        self.events = Gauge("rapport_events_appended", "Events in this service's store", registry=r)
        self.outbox_backlog = Gauge(
            "rapport_outbox_backlog", "Events not yet published", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "rapport_outbox_oldest_age_seconds", "Age of the oldest unpublished event", registry=r
        )
        self.outbox_quarantined = Gauge(
            "rapport_outbox_quarantined",
            "Events the broker refused for good, set aside for an operator to replay or discard",
            registry=r,
        )
        self.broker_connected = Gauge(
            "rapport_broker_connected",
            "1 while connected to NATS; commands are accepted into the outbox either way",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "rapport_consumer_lag_events",
            "Messages a durable consumer has not yet applied",
            ["consumer"],
            registry=r,
        )
        self.projection_lag = Gauge(
            "rapport_projection_lag_seconds",
            "How long a consumer's projection has been behind its stream (0 when caught up)",
            ["consumer"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "rapport_dead_letters", "Dead-lettered events", ["consumer"], registry=r
        )
        # Collections by generation, and the objects frozen after startup (runtime.serve), which
        # a full collection no longer walks.
        GCCollector(registry=r)
        self.frozen_objects = Gauge(
            "rapport_gc_frozen_objects", "Objects frozen after startup", registry=r
        )
        # Service-specific figures (e.g. reminders sent by channel) register a refresher.
        self.refreshers: list[Refresher] = []

    def observe_request(self, method: str, route: str, status: int, started: float) -> None:
        self.http_latency.labels(method, route, str(status)).observe(time.perf_counter() - started)

    async def render(self, engine: AsyncEngine, snapshot: ServiceSnapshot) -> bytes:
        self.events.set(snapshot.events)
        self.frozen_objects.set(gc.get_freeze_count())
        self.outbox_backlog.set(snapshot.outbox_backlog)
        self.outbox_oldest_age.set(snapshot.outbox_oldest_age_seconds)
        self.outbox_quarantined.set(snapshot.outbox_quarantined)
        self.broker_connected.set(1 if snapshot.broker_connected else 0)
        for consumer in snapshot.consumers:
            self.consumer_lag.labels(consumer.name).set(
                float("nan") if consumer.lag is None else consumer.lag
            )
            self.projection_lag.labels(consumer.name).set(consumer.projection_lag_seconds)
            self.dead_letters.labels(consumer.name).set(consumer.dead_letters)
        if self.refreshers:
            async with engine.connect() as conn:
                for refresh in self.refreshers:
                    await refresh(conn)
        return generate_latest(self.registry)


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max((now - then).total_seconds(), 0.0)


async def _consumer_lag(js: JetStreamContext | None, runner: ConsumerRunner) -> float | None:
    if js is None:
        return None
    try:
        info = await js.consumer_info(runner.subscription.stream, runner.name)
    except Exception:  # noqa: BLE001 - unknown while the broker is away
        return None
    return float(info.num_pending + info.num_ack_pending)
