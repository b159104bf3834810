"""Deliveries sent and failed by channel, read from the deliveries read model when scraped."""

from typing import get_args

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.tables import deliveries
from rapport_shared.contracts.notifications import Channel
from rapport_shared.runtime.metrics import ServiceMetrics


def register_reminder_metrics(metrics: ServiceMetrics) -> None:
    outcomes = Gauge(
        "rapport_reminders",
        "Reminder deliveries by outcome and channel",
        ["channel", "status"],
        registry=metrics.registry,
    )

    async def refresh(conn: AsyncConnection) -> None:
        counts = {
            (channel, status): count
            for channel, status, count in (
                await conn.execute(
                    select(deliveries.c.channel, deliveries.c.status, func.count()).group_by(
                        deliveries.c.channel, deliveries.c.status
                    )
                )
            )
        }
        for channel in get_args(Channel):
            for status in ("sent", "failed"):
                outcomes.labels(channel, status).set(counts.get((channel, status), 0))

    metrics.refreshers.append(refresh)
