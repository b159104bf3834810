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
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.db import is_sqlite
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
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the wake-up fires, and the relay would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            self._wake.clear()

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many rows were published and removed."""
        if is_sqlite(self._engine):
            # SQLite has one writer at a time: holding its lock while waiting for acks would
            # stall every command behind a slow broker. Read, publish, then delete; a row
            # published twice (a crash in between) is dropped by the duplicate window.
            async with self._engine.connect() as conn:  # a read: no need to queue with writers
                rows = await self._pending(conn)
            done = await self._publish(rows)
            if done:
                async with self._engine.begin() as conn:
                    await self._forget(conn, done)
        else:
            # PostgreSQL: SKIP LOCKED claims the rows for this relay until commit, so several
            # replicas share one outbox without publishing the same rows, and nothing else waits.
            async with self._engine.begin() as conn:
                rows = await self._pending(conn, skip_locked=True)
                done = await self._publish(rows)
                await self._forget(conn, done)
        self.published += len(done)
        if len(done) < len(rows):
            raise RuntimeError(f"{len(rows) - len(done)}/{len(rows)} publishes not acknowledged")
        return len(done)

    async def _pending(self, conn: AsyncConnection, skip_locked: bool = False) -> list[Any]:
        query = _PENDING.with_for_update(skip_locked=True) if skip_locked else _PENDING
        return list((await conn.execute(query, {"limit": self._batch_size})).all())

    async def _publish(self, rows: list[Any]) -> list[int]:
        """Send every row, then await the acks together; returns the positions acknowledged."""
        futures: list[asyncio.Future[Any]] = []
        for row in rows:
            futures.append(
                await self._js.publish_async(
                    row.subject, bytes(row.payload), headers=dict(row.headers)
                )
            )
        if not futures:
            return []
        # Whatever is acked by the deadline counts, even if the rest of the batch is not.
        await asyncio.wait(futures, timeout=self._ack_timeout)
        for future in futures:
            if not future.done():
                future.cancel()
        return [
            row.position
            for row, future in zip(rows, futures, strict=True)
            if future.done() and not future.cancelled() and future.exception() is None
        ]

    async def _forget(self, conn: AsyncConnection, positions: list[int]) -> None:
        if positions:
            await conn.execute(_FORGET, {"positions": positions})


# Built once per process rather than per batch, and only the columns a publish needs.
_PENDING = (
    select(
        outbox_table.c.position,
        outbox_table.c.subject,
        outbox_table.c.headers,
        outbox_table.c.payload,
    )
    .order_by(outbox_table.c.position)
    .limit(bindparam("limit"))
)
_FORGET = delete(outbox_table).where(
    outbox_table.c.position.in_(bindparam("positions", expanding=True))
)
