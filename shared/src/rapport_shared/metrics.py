"""Prometheus metrics of one service, served at /metrics.

Figures that live in the database or the broker (backlog, lag, dead letters) are read when
scraped rather than counted in the hot path, so they are right even across restarts and replicas.
"""

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.consumer import ConsumerRunner
from rapport_shared.schema import checkpoints_table, dead_letters_table, events_table, outbox_table

Refresher = Callable[[AsyncConnection], Awaitable[None]]


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
        self.refreshers: list[Refresher] = []

    def observe_request(self, method: str, route: str, status: int, started: float) -> None:
        self.http_latency.labels(method, route, str(status)).observe(time.perf_counter() - started)

    async def render(
        self, engine: AsyncEngine, js: JetStreamContext | None, consumers: list[ConsumerRunner]
    ) -> bytes:
        now = datetime.now(UTC)
        async with engine.connect() as conn:
            self.events.set(
                (await conn.execute(select(func.count()).select_from(events_table))).scalar_one()
            )
            backlog, oldest = (
                await conn.execute(select(func.count(), func.min(outbox_table.c.created_at)))
            ).one()
            self.outbox_backlog.set(backlog)
            self.outbox_oldest_age.set(_age(now, oldest))
            dead = await conn.execute(
                select(dead_letters_table.c.consumer, func.count()).group_by(
                    dead_letters_table.c.consumer
                )
            )
            for consumer, count in dead:
                self.dead_letters.labels(consumer).set(count)
            checkpoints = dict(
                (
                    await conn.execute(
                        select(checkpoints_table.c.consumer, checkpoints_table.c.updated_at)
                    )
                )
                .tuples()
                .all()
            )
            for refresh in self.refreshers:
                await refresh(conn)
        for runner in consumers:
            lag = await _consumer_lag(js, runner)
            self.consumer_lag.labels(runner.name).set(lag)
            behind_since = checkpoints.get(runner.name)
            self.projection_lag.labels(runner.name).set(_age(now, behind_since) if lag else 0.0)
        return generate_latest(self.registry)


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max((now - then).total_seconds(), 0.0)


async def _consumer_lag(js: JetStreamContext | None, runner: ConsumerRunner) -> float:
    if js is None:
        return float("nan")
    try:
        info = await js.consumer_info(runner.subscription.stream, runner.name)
    except Exception:  # noqa: BLE001 - unknown while the broker is away
        return float("nan")
    return float(info.num_pending + info.num_ack_pending)
