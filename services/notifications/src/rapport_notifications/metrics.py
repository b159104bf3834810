"""Reminders sent and failed by channel, read from the reminders read model when scraped."""

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.tables import reminders
from rapport_shared.metrics import ServiceMetrics

# Email is the only channel so far; the label is there for the ones to come.
CHANNEL = "email"


def register_reminder_metrics(metrics: ServiceMetrics) -> None:
    outcomes = Gauge(
        "rapport_reminders",
        "Reminders by delivery outcome and channel",
        ["channel", "status"],
        registry=metrics.registry,
    )

    async def refresh(conn: AsyncConnection) -> None:
        counts = dict(
            (
                await conn.execute(
                    select(reminders.c.status, func.count()).group_by(reminders.c.status)
                )
            )
            .tuples()
            .all()
        )
        for status in ("sent", "failed"):
            outcomes.labels(CHANNEL, status).set(counts.get(status, 0))

    metrics.refreshers.append(refresh)
