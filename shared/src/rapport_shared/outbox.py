"""The outbox relay: publishes committed events to JetStream, then forgets them.

It wakes right after a commit (notify()) and polls as a fallback, so events written by another
process, or left behind by a crash, go out too. Each batch is published pipelined (all publishes
sent, then all acks awaited) with Nats-Msg-Id = event id, so a row published twice (a crash after
the publish, before the delete) is dropped by JetStream's duplicate window.
"""

import asyncio
import contextlib
from typing import Any

import structlog
from nats.js import JetStreamContext
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from rapport_shared.schema import outbox_table

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        ack_timeout: float = 5.0,
    ) -> None:
        self._engine = engine
        self._js = js
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._ack_timeout = ack_timeout
        self._wake = asyncio.Event()
        self.published = 0

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                sent = await self.publish_batch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the relay must outlive broker outages
                failures += 1
                delay = min(0.1 * 2**failures, 5.0)
                log.warning("outbox publish failed", error=repr(error), retry_in=delay)
                await asyncio.sleep(delay)
                continue
            if sent == self._batch_size:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many rows were published and removed."""
        async with self._engine.begin() as conn:
            # SKIP LOCKED lets several replicas relay one outbox without waiting on each other
            # (PostgreSQL); SQLite has one writer at a time anyway and ignores the clause.
            rows = (
                await conn.execute(
                    select(outbox_table)
                    .order_by(outbox_table.c.position)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            futures: list[asyncio.Future[Any]] = []
            for row in rows:
                futures.append(
                    await self._js.publish_async(
                        row.subject, bytes(row.payload), headers=dict(row.headers)
                    )
                )
            results = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), self._ack_timeout
            )
            done = [
                row.position
                for row, r in zip(rows, results, strict=True)
                if not isinstance(r, BaseException)
            ]
            if done:
                await conn.execute(delete(outbox_table).where(outbox_table.c.position.in_(done)))
        self.published += len(done)
        if len(done) < len(rows):
            failed = next(r for r in results if isinstance(r, BaseException))
            raise RuntimeError(f"{len(rows) - len(done)}/{len(rows)} publishes failed: {failed!r}")
        return len(done)
