"""The outbox relay: publishes committed events to JetStream, then forgets them.

It wakes right after a commit (notify()) and polls as a fallback, so events written by another
process, or left behind by a crash, go out too. Each batch is published pipelined (all publishes
sent, then all acks awaited) with Nats-Msg-Id = event id, so an event published twice (a crash
after the publish, before the relay noted it) is dropped by JetStream's duplicate window.

Where the waiting events are depends on the database:
- SQLite: the events table itself, past the relay's cursor. SQLite commits one writer at a time
  and positions grow with each commit, so an event past the cursor is committed or not yet
  written, never overtaken by a later commit. An append then writes one table and its
  (stream, version) key and nothing else, half the pages it wrote with an outbox row per event.
  Only a bus copy that the log cannot give back (transport-only fields, such as session-closed's
  sealed wording) has an outbox row; the relay takes it in place of the logged event.
- PostgreSQL: an outbox row per public event, written in the append's transaction. Concurrent
  transactions commit out of position order there, so a cursor could pass an event that commits
  later; rows claimed with SKIP LOCKED also let several replicas share one outbox.

An event the broker refuses for good (too large, ...) is moved to the quarantine with the
reason, and counts as passed: it must not hold back the events after it (rapport_shared.
quarantine tells a refusal from a transient failure, which is retried).
"""

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pydantic_core
import structlog
from nats.aio.client import DEFAULT_MAX_PAYLOAD_SIZE
from nats.js import JetStreamContext
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.contracts import envelope
from rapport_shared.contracts.base import EventRegistry
from rapport_shared.contracts.clock import to_utc
from rapport_shared.messaging import quarantine
from rapport_shared.persistence import event_log
from rapport_shared.persistence.db import sqlite_time
from rapport_shared.persistence.schema import events_table, outbox_cursor_table, outbox_table

log = structlog.get_logger(__name__)

# SQLite: while events keep coming, how long the relay may go without writing its cursor. A cursor
# write is a commit of its own, one per relay round, that is one per command at a steady rate;
# deferred, a busy relay writes it a few times a second. A crash meanwhile publishes those events
# again, with their ids: JetStream's duplicate window drops the copies (consumers skip any that
# pass it, by event id).
CURSOR_SAVE_SECONDS = 0.25


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        registry: EventRegistry,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        ack_timeout: float = 5.0,
        cursor_save_seconds: float = CURSOR_SAVE_SECONDS,
        retry_first_seconds: float = 0.2,
        retry_longest_seconds: float = 5.0,
        max_payload: Callable[[], int] = lambda: DEFAULT_MAX_PAYLOAD_SIZE,
    ) -> None:
        """max_payload: the connected server's limit (the connection's max_payload, which
        follows the server it is connected to); nats-server's default unless given."""
        self._engine = engine
        self._js = js
        self._registry = registry
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._ack_timeout = ack_timeout
        self._cursor_save_seconds = cursor_save_seconds
        self._retry_first = retry_first_seconds
        self._retry_longest = retry_longest_seconds
        self._max_payload = max_payload
        self._broker_back = asyncio.Event()
        self.failures = 0  # rounds failed in a row
        self._wake = asyncio.Event()
        self.published = 0
        self.quarantined = 0
        # SQLite: the position published up to but not yet written (see CURSOR_SAVE_SECONDS).
        self._unsaved: int | None = None
        self._saved_at = -math.inf

    def notify(self) -> None:
        self._wake.set()

    def broker_back(self) -> None:
        """The connection to the broker is back (nats-py reconnected): a relay waiting out a
        failure retries at once and backs off from the start again, so the events kept while
        the broker was away go out now rather than up to retry_longest_seconds later."""
        self.failures = 0
        self._broker_back.set()

    async def run(self) -> None:
        while True:
            try:
                read = await self._publish_waiting()
                if self._unsaved is not None and self._cursor_wait() == 0:
                    await self.save_cursor()
                self.failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the relay must outlive broker outages
                self.failures += 1
                delay = min(self._retry_first * 2 ** (self.failures - 1), self._retry_longest)
                log.warning("outbox publish failed", error=repr(error), retry_in=delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._broker_back.wait()
                self._broker_back.clear()
                continue
            if read == self._batch_size:
                continue  # more may be waiting
            # An unsaved cursor is written once due even if no commit wakes the relay first.
            wait = self._poll_interval if self._unsaved is None else self._cursor_wait()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the wake-up fires, and the relay would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    def _cursor_wait(self) -> float:
        return max(0.0, self._saved_at + self._cursor_save_seconds - time.monotonic())

    async def publish_batch(self) -> int:
        """Publish up to one batch and note it (on SQLite, write the cursor at once); returns how
        many waiting events were read. Raises when some publishes were not acknowledged (they
        stay waiting)."""
        try:
            return await self._publish_waiting()
        finally:  # what was acknowledged before a failure is noted too
            await self.save_cursor()

    async def save_cursor(self) -> None:
        """SQLite: write the position published up to, and forget the bus copies before it."""
        reached = self._unsaved
        if reached is None:
            return
        async with self._engine.begin() as conn:
            await event_log.pass_log_outbox(conn, reached)
        self._saved_at = time.monotonic()
        if self._unsaved == reached:
            self._unsaved = None

    async def _publish_waiting(self) -> int:
        if event_log.log_is_outbox(self._engine):
            return await self._publish_from_log()
        # PostgreSQL: SKIP LOCKED claims the rows for this relay until commit, so several
        # replicas share one outbox without publishing the same rows, and nothing else waits.
        async with self._engine.begin() as conn:
            rows = (await conn.execute(_CLAIM, {"limit": self._batch_size})).all()
            acked, refused = await self._publish(
                [(row.position, _stored_message(row)) for row in rows]
            )
            await quarantine.set_aside(conn, refused)
            passed = acked | {r.position for r in refused}
            if passed:
                await conn.execute(_FORGET, {"positions": sorted(passed)})
        self._count(acked, refused, len(rows))
        return len(rows)

    async def _publish_from_log(self) -> int:
        # Read, publish, then move the cursor (in memory; save_cursor() writes it): holding
        # SQLite's one write lock while waiting for acks would stall every command behind a slow
        # broker.
        after = self._unsaved or 0
        async with self._engine.connect() as conn:  # a read: no need to queue with writers
            rows = await event_log.waiting_in_log(conn, after, self._batch_size)
        messages = [(row[0], self._logged_message(*row)) for row in rows]
        acked, refused = await self._publish(messages)
        if refused:  # in the quarantine before the cursor passes them
            async with self._engine.begin() as conn:
                await quarantine.set_aside(conn, refused)
        # The cursor moves past every event that went out, was quarantined, or has nothing to
        # go out, up to the first that did not: that one and those after it are read again.
        passed = acked | {r.position for r in refused}
        reached = None
        for position, message in messages:
            if message is not None and position not in passed:
                break
            reached = position
        if reached is not None:
            self._unsaved = reached  # written by save_cursor(), now or soon (run())
        self._count(acked, refused, sum(message is not None for _, message in messages))
        return len(rows)

    def _logged_message(
        self,
        position: int,
        event_id: str,
        stream_id: str,
        event_type: str,
        schema_version: int,
        clinic_id: str,
        occurred_at: str,
        data: str,
        metadata: str,
        subject: str | None,
        headers: str | None,
        payload: bytes | None,
    ) -> envelope.OutgoingMessage | None:
        """What goes on the bus for a logged event (a row of event_log.waiting_in_log): None for a
        private one."""
        if subject is not None and headers is not None and payload is not None:
            # a bus copy that differs from the log
            return envelope.OutgoingMessage(subject, payload, pydantic_core.from_json(headers))
        contract = self._registry.contract_for(event_type)
        if not contract.public:
            return None
        return envelope.encode_logged(
            envelope.LoggedEvent(
                event_id=event_id,
                stream_id=stream_id,
                service=contract.service,
                event_type=event_type,
                schema_version=schema_version,
                clinic_id=clinic_id,
                occurred_at=sqlite_time(occurred_at),
                data_json=data,
                metadata=pydantic_core.from_json(metadata),
            )
        )

    async def _publish(
        self, messages: list[tuple[int, envelope.OutgoingMessage | None]]
    ) -> tuple[set[int], list[quarantine.Refused]]:
        """Publish the messages; returns the positions acknowledged and the messages the broker
        refused for good. A transient failure leaves a message neither (it waits)."""
        acked, refused, unanswered = await self._pipelined(messages)
        if unanswered:
            await self._one_by_one(unanswered, acked, refused)
        for each in refused:
            log.error(
                "outbox event quarantined: the broker refuses it",
                event_id=each.message.headers.get("Nats-Msg-Id"),
                subject=each.message.subject,
                reason=each.reason,
            )
        return acked, refused

    async def _pipelined(
        self, messages: list[tuple[int, envelope.OutgoingMessage | None]]
    ) -> tuple[set[int], list[quarantine.Refused], list[tuple[int, envelope.OutgoingMessage]]]:
        """Send every message, then await the acks together (whatever is acked by the deadline
        counts, even if the rest is not). Returns what was acknowledged, what was refused, and
        what got no answer in time, in position order."""
        futures: dict[int, tuple[envelope.OutgoingMessage, asyncio.Future[Any]]] = {}
        refused: list[quarantine.Refused] = []
        max_payload = self._max_payload()
        for position, message in messages:
            if message is None:
                continue
            sent = await self._send(message, max_payload)
            if isinstance(sent, str):
                refused.append(quarantine.Refused(position, message, sent))
            else:
                futures[position] = (message, sent)
        if futures:
            await asyncio.wait([f for _, f in futures.values()], timeout=self._ack_timeout)
        acked: set[int] = set()
        unanswered = []
        for position, (message, future) in futures.items():
            if not future.done():
                future.cancel()
                unanswered.append((position, message))
                continue
            failure = None if future.cancelled() else future.exception()
            if failure is None and not future.cancelled():
                acked.add(position)
            elif failure is not None and (reason := quarantine.refusal(failure)) is not None:
                refused.append(quarantine.Refused(position, message, reason))
            else:
                unanswered.append((position, message))
        return acked, refused, unanswered

    async def _send(
        self, message: envelope.OutgoingMessage, max_payload: int
    ) -> asyncio.Future[Any] | str:
        """The future of the message's ack, or why it cannot be sent at all."""
        reason = quarantine.oversized(message, max_payload)
        if reason is not None:
            return reason
        try:
            return await self._js.publish_async(
                message.subject, message.payload, headers=message.headers
            )
        except Exception as failure:
            reason = quarantine.refusal(failure)
            if reason is None:
                raise  # e.g. the connection lost: the batch is tried again
            return reason

    async def _one_by_one(
        self,
        unanswered: list[tuple[int, envelope.OutgoingMessage]],
        acked: set[int],
        refused: list[quarantine.Refused],
    ) -> None:
        """Publish again, one at a time and in order, what got no answer, until one fails
        transiently (the rest waits for the next round). Needed to see refusals at all: nats-py
        2.16 raises JetStream's error answer to publish_async inside its reply callback instead
        of setting it on the future, so a message the stream refuses (max_msg_size) looks
        unanswered there; a plain publish raises the answer. Each is retried with its own
        Nats-Msg-Id, so one that had gone out after all is dropped as a duplicate."""
        for position, message in unanswered:
            try:
                await self._js.publish(
                    message.subject,
                    message.payload,
                    timeout=self._ack_timeout,
                    headers=message.headers,
                )
            except Exception as failure:
                reason = quarantine.refusal(failure)
                if reason is None:
                    return
                refused.append(quarantine.Refused(position, message, reason))
            else:
                acked.add(position)

    def _count(self, acked: set[int], refused: list[quarantine.Refused], sent: int) -> None:
        self.published += len(acked)
        self.quarantined += len(refused)
        handled = len(acked) + len(refused)
        if handled < sent:
            raise RuntimeError(f"{sent - handled}/{sent} publishes not acknowledged")


async def backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """How many events wait for the relay, and when the oldest was written. On SQLite that counts
    every event past the relay's written cursor, private ones too (it passes them in its next
    batch); while busy it writes the cursor every CURSOR_SAVE_SECONDS, so up to that much behind."""
    if event_log.log_is_outbox(conn):
        query = select(func.count(), func.min(events_table.c.occurred_at)).where(
            events_table.c.position > _CURSOR
        )
    else:
        query = select(func.count(), func.min(outbox_table.c.created_at))
    count, oldest = (await conn.execute(query)).one()
    return int(count), None if oldest is None else to_utc(oldest)


def _stored_message(row: Any) -> envelope.OutgoingMessage:
    return envelope.OutgoingMessage(row.subject, bytes(row.payload), dict(row.headers))


# Built once per process rather than per batch, and only the columns a publish needs.
_OUTBOX_COLUMNS = (
    outbox_table.c.position,
    outbox_table.c.subject,
    outbox_table.c.headers,
    outbox_table.c.payload,
)
_CLAIM = (
    select(*_OUTBOX_COLUMNS)
    .order_by(outbox_table.c.position)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_FORGET = delete(outbox_table).where(
    outbox_table.c.position.in_(bindparam("positions", expanding=True))
)

# No cursor row (tables made without migrations, as in the bench) reads from the start.
_CURSOR = func.coalesce(select(outbox_cursor_table.c.position).scalar_subquery(), 0)
