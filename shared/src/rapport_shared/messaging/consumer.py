"""Durable pull consumers that apply events with an exactly-once effect.

Each fetched batch is applied in order inside one database transaction together with the
consumer's bookkeeping (processed event ids and the stream-sequence checkpoint), and acked only
after that transaction commits. Idempotency is by event id, not by sequence: a copy republished
after JetStream's duplicate window gets a new sequence but the same id, and several replicas
sharing one durable consumer may apply a batch's events in any interleaving.

Failures: a message that is not a Rapport event (bad JSON, unknown type or version, data that
does not validate), or whose handler refuses it with a DomainError, is dead-lettered at once.
Any other handler failure is retried with backoff; once the message has been delivered
max_deliveries times it is dead-lettered with the error and the consumer moves on.

Writing a consumer, the one way every service does it:

- A handler is `async def on_x(conn, incoming, *, <what it needs>)`: the batch's connection and
  the event by position, the service's parts (its store or key ring, settings it decides with)
  by keyword. If it decides with the time, it reads the clock once (contracts.clock.utc_now)
  and passes `now` down, as a route does.
- The service's bootstrap.py (its composition root) declares every Subscription it consumes
  with: durable name, source service, `handlers` keyed by event type (the subject filter
  follows from them), each bound to its parts there with functools.partial; nothing is read
  from a module-level global. A handler the library provides is declared the same way
  (security.care_team.on_care_team_changed).
- A batch hook is optional and has the handlers' effect, with the same parts: `begin_batch`
  where handlers append events (it reads once for the batch, then each event is applied under
  its own context), `apply_batch` where they only upsert read-model rows (the batch at once).
- Handlers that append events set after_commit=(runtime.notify_relay,), so their events go out
  at once rather than at the relay's next poll.
- The runner opens the transaction: one per batch, a savepoint per event when it goes one by
  one. A handler never begins, commits or rolls back one (a savepoint of its own around a write
  it may lose, conn.begin_nested(), is fine); a rebuild replays the same handlers in its own.
"""

import asyncio
import contextlib
import enum
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.contracts.base import EventRegistry, UnknownEventType
from rapport_shared.contracts.envelope import IncomingEvent, MalformedEvent, decode
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.subjects import event_subjects, stream_name
from rapport_shared.persistence.driver_sql import insert_rows, one_of, rows_among, run_on_driver
from rapport_shared.persistence.schema import checkpoints_table, dead_letters_table, processed_table
from rapport_shared.telemetry.context import bound_context
from rapport_shared.telemetry.tracing import traced

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncConnection, IncomingEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, Sequence[IncomingEvent]], Awaitable[None]]
# Given a batch's new events (in stream order) in its transaction, returns the handler that
# applies them there one by one (see Subscription.begin_batch).
BatchBegin = Callable[[AsyncConnection, Sequence[IncomingEvent]], Awaitable[Handler]]


@dataclass(frozen=True)
class Subscription:
    """One durable consumer on another (or the same) service's stream."""

    durable: str
    source_service: str
    handlers: Mapping[str, Handler]
    after_commit: Sequence[Callable[[], None]] = field(default=())
    # Optional: applies a batch's events (new ones, in stream order) at once, to the same effect
    # as handlers one by one. Only for work that appends no events and needs no per-event
    # context (correlation, causation): it runs under the batch's, in one trace span linked to
    # the events' traces. The handlers still apply the events one by one when a batch fails,
    # and replay dead letters.
    apply_batch: BatchHandler | None = None
    # Optional, for handlers that append events: called once per batch with its new events (in
    # stream order), in the batch's transaction, before they are applied; returns the handler
    # that then applies them one by one, each under its own context as usual. It may read up
    # front what the events will need (e.g. every stream's history in one query) and keep it for
    # this transaction only. It must have the handlers' effect; they still apply the events one
    # by one when a batch fails, and replay dead letters.
    begin_batch: BatchBegin | None = None
    # For work nobody waits on: after a batch that was not full, wait this long before fetching
    # again, so the events arriving meanwhile are applied together (one transaction, one read
    # of their histories, one round of acks) instead of one batch each.
    linger_seconds: float = 0.0

    @property
    def stream(self) -> str:
        return stream_name(self.source_service)

    @property
    def filter_subjects(self) -> list[str]:
        return [event_subjects(self.source_service, name) for name in sorted(self.handlers)]


class _Outcome(enum.Enum):
    DONE = "done"
    RETRY = "retry"


class ConsumerRunner:
    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        registry: EventRegistry,
        subscription: Subscription,
        *,
        batch_size: int = 100,
        max_deliveries: int = 5,
        retry_base_seconds: float = 0.2,
        fetch_timeout: float = 1.0,
        ack_wait_seconds: float = 10.0,
    ) -> None:
        self._engine = engine
        self._js = js
        self._registry = registry
        self.subscription = subscription
        self._batch_size = batch_size
        self._max_deliveries = max_deliveries
        self._retry_base = retry_base_seconds
        self._fetch_timeout = fetch_timeout
        self._ack_wait = ack_wait_seconds
        self.applied = 0
        self.dead_lettered = 0

    @property
    def name(self) -> str:
        return self.subscription.durable

    async def bind(self) -> JetStreamContext.PullSubscription:
        """Create (or re-apply) the durable consumer on the owner's stream, never the stream."""
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=self.subscription.filter_subjects,
            ack_wait=self._ack_wait,
            max_deliver=-1,  # this runner decides when a message is dead
            max_ack_pending=max(1000, self._batch_size * 4),
        )
        delay = 0.2
        while True:
            try:
                await self._js.add_consumer(self.subscription.stream, config)
                return await self._js.pull_subscribe_bind(
                    durable=self.name, stream=self.subscription.stream
                )
            except NotFoundError:
                # The owner has not declared its stream yet; it is not ours to declare.
                log.info("waiting for stream", stream=self.subscription.stream, consumer=self.name)
            except Exception as error:  # noqa: BLE001 - broker unavailable: keep trying
                log.warning("consumer bind failed", consumer=self.name, error=repr(error))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def run(self) -> None:
        pull = await self.bind()
        failures = 0
        while True:
            try:
                messages = await pull.fetch(self._batch_size, timeout=self._fetch_timeout)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - broker hiccup: fetch again
                log.warning("fetch failed", consumer=self.name, error=repr(error))
                await asyncio.sleep(0.5)
                continue
            try:
                retry = await self.process(messages)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - e.g. the database is unavailable
                failures += 1
                log.warning("batch failed", consumer=self.name, error=repr(error))
                await _settle(messages, [])
                await asyncio.sleep(min(self._retry_base * 2**failures, 10.0))
                continue
            if retry is not None:
                await asyncio.sleep(min(self._retry_base * 2 ** (retry - 1), 10.0))
            elif self.subscription.linger_seconds and len(messages) < self._batch_size:
                await asyncio.sleep(self.subscription.linger_seconds)

    async def process(self, messages: Sequence[Msg]) -> int | None:
        """Apply a batch. Returns the failing message's delivery count when it must be retried.

        The whole batch first goes in one transaction with its bookkeeping written once (no
        savepoint, no lookup per event): that halves the cost of an event. If anything in it
        fails, that transaction is rolled back and the batch goes event by event, each in a
        savepoint, so a poison event is isolated (dead-lettered or retried) as before.
        """
        try:
            correlations = await self._process_together(messages)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - isolated below, event by event
            log.info(
                "batch failed as a whole, applying one by one",
                consumer=self.name,
                error=repr(error),
            )
            return await self._process_one_by_one(messages)
        await self._finish(messages, messages)
        self.applied += len(correlations)
        if correlations:
            # One line per batch, still naming every command's correlation id it carried on.
            ids = sorted({c for c in correlations if c})
            count = len(correlations)
            log.info("events applied", consumer=self.name, count=count, correlations=ids)
        return None

    async def _process_together(self, messages: Sequence[Msg]) -> list[str | None]:
        """Apply every message in one transaction; raises if any of them fails. Returns the
        correlation ids of the events applied (one per event)."""
        async with self._engine.begin() as conn:
            # A message that does not decode raises here: the one-by-one path dead-letters it.
            decoded = [decode(message.data, self._registry) for message in messages]
            done = await self._processed_among(conn, [incoming.event_id for incoming in decoded])
            now = datetime.now(UTC)
            handlers = self.subscription.handlers
            todo: list[IncomingEvent] = []
            for incoming in decoded:
                if incoming.event_type not in handlers or incoming.event_id in done:
                    continue
                done.add(incoming.event_id)  # a copy later in the same batch is a duplicate
                todo.append(incoming)
            if self.subscription.apply_batch is not None:
                await self._run_batch(conn, self.subscription.apply_batch, todo)
            elif self.subscription.begin_batch is not None and todo:
                batch_handler = await self.subscription.begin_batch(conn, todo)
                for incoming in todo:
                    await self._run_handler(conn, batch_handler, incoming)
            else:
                for incoming in todo:
                    await self._run_handler(conn, handlers[incoming.event_type], incoming)
            applied = [
                {"consumer": self.name, "event_id": incoming.event_id, "processed_at": now}
                for incoming in todo
            ]
            correlations = [incoming.correlation_id for incoming in todo]
            await insert_rows(conn, processed_table, applied)
            if messages:
                await self._save_checkpoint(conn, max(m.metadata.sequence.stream for m in messages))
        return correlations

    async def _process_one_by_one(self, messages: Sequence[Msg]) -> int | None:
        handled: list[Msg] = []
        retry_deliveries: int | None = None
        async with self._engine.begin() as conn:
            for message in messages:
                if await self._apply(conn, message) is _Outcome.RETRY:
                    retry_deliveries = message.metadata.num_delivered
                    break
                handled.append(message)
            if handled:
                last = max(m.metadata.sequence.stream for m in handled)
                await self._save_checkpoint(conn, last)
        await self._finish(messages, handled)
        return retry_deliveries

    async def _finish(self, messages: Sequence[Msg], handled: Sequence[Msg]) -> None:
        await _settle(messages, handled)
        for callback in self.subscription.after_commit:
            callback()

    async def _apply(self, conn: AsyncConnection, message: Msg) -> _Outcome:
        deliveries = message.metadata.num_delivered
        try:
            incoming = decode(message.data, self._registry)
        except (MalformedEvent, UnknownEventType) as error:
            await self._dead_letter(conn, message, None, str(error))
            return _Outcome.DONE
        try:
            await self.apply_event(conn, incoming)
        except IntegrityError as error:
            if await self._already_processed(conn, incoming.event_id):
                return _Outcome.DONE  # a replica applied it meanwhile
            return await self._failed(conn, message, incoming, error, deliveries)
        except DomainError as error:
            # The event breaks a rule of this service: retrying cannot change the answer.
            await self._dead_letter(conn, message, incoming.event_id, repr(error))
            return _Outcome.DONE
        except Exception as error:  # noqa: BLE001 - a handler failure must not stop the consumer
            return await self._failed(conn, message, incoming, error, deliveries)
        return _Outcome.DONE

    async def apply_event(self, conn: AsyncConnection, incoming: IncomingEvent) -> bool:
        """Apply one event in a savepoint with its processed-id record; False if already applied.

        Raises what the handler raises (its writes rolled back). Also used to replay dead letters.
        """
        handler = self.subscription.handlers.get(incoming.event_type)
        if handler is None or await self._already_processed(conn, incoming.event_id):
            return False
        async with conn.begin_nested():
            await self._run_handler(conn, handler, incoming)
            await conn.execute(
                insert(processed_table).values(
                    consumer=self.name,
                    event_id=incoming.event_id,
                    processed_at=datetime.now(UTC),
                )
            )
        self.applied += 1
        return True

    async def _run_handler(
        self, conn: AsyncConnection, handler: Handler, incoming: IncomingEvent
    ) -> None:
        with (
            traced(
                f"apply {incoming.event_type}", incoming.traceparent, consumer=self.name
            ) as traceparent,
            bound_context(
                incoming.correlation_id,
                causation_id=incoming.event_id,
                actor=f"consumer:{self.name}",
                traceparent=traceparent,
            ),
        ):
            await handler(conn, incoming)
            # Debug: an info line per event was a fifth of a consumer's time; each batch
            # committed gets one info line instead (process()).
            log.debug(
                "event applied",
                consumer=self.name,
                event_type=incoming.event_type,
                event_id=incoming.event_id,
            )

    async def _run_batch(
        self, conn: AsyncConnection, apply_batch: BatchHandler, todo: list[IncomingEvent]
    ) -> None:
        if not todo:
            return
        correlations = {incoming.correlation_id for incoming in todo}
        with (
            # One span for the batch, linked to each event's trace (a span per event is what the
            # batch handler saves).
            traced(
                "apply batch",
                None,
                links=[incoming.traceparent for incoming in todo],
                consumer=self.name,
                events=str(len(todo)),
            ) as traceparent,
            bound_context(
                correlations.pop() if len(correlations) == 1 else None,
                actor=f"consumer:{self.name}",
                traceparent=traceparent,
            ),
        ):
            await apply_batch(conn, todo)

    async def _processed_among(self, conn: AsyncConnection, event_ids: list[str]) -> set[str]:
        if not event_ids:
            return set()
        found = await rows_among(conn, _processed_among, event_ids, {"name": self.name})
        return {event_id for (event_id,) in found}

    async def _failed(
        self,
        conn: AsyncConnection,
        message: Msg,
        incoming: IncomingEvent,
        error: Exception,
        deliveries: int,
    ) -> _Outcome:
        if deliveries >= self._max_deliveries:
            await self._dead_letter(conn, message, incoming.event_id, repr(error))
            return _Outcome.DONE
        log.warning(
            "handler failed, will retry",
            consumer=self.name,
            event_id=incoming.event_id,
            deliveries=deliveries,
            error=repr(error),
        )
        return _Outcome.RETRY

    async def _already_processed(self, conn: AsyncConnection, event_id: str) -> bool:
        found = await conn.execute(
            select(processed_table.c.event_id).where(
                processed_table.c.consumer == self.name, processed_table.c.event_id == event_id
            )
        )
        return found.first() is not None

    async def _dead_letter(
        self, conn: AsyncConnection, message: Msg, event_id: str | None, error: str
    ) -> None:
        self.dead_lettered += 1
        log.error(
            "event dead-lettered",
            consumer=self.name,
            subject=message.subject,
            stream_sequence=message.metadata.sequence.stream,
            error=error,
        )
        await conn.execute(
            insert(dead_letters_table).values(
                consumer=self.name,
                stream_sequence=message.metadata.sequence.stream,
                subject=message.subject,
                event_id=event_id,
                headers=dict(message.headers or {}),
                payload=message.data,
                error=error,
                deliveries=message.metadata.num_delivered,
                dead_at=datetime.now(UTC),
            )
        )

    async def _save_checkpoint(self, conn: AsyncConnection, sequence: int) -> None:
        values = {"name": self.name, "sequence": sequence, "now": datetime.now(UTC)}
        if await run_on_driver(conn, _ADVANCE_CHECKPOINT, values) == 0:
            exists = await conn.execute(_CHECKPOINT, values)
            if exists.first() is None:
                await conn.execute(_NEW_CHECKPOINT, values)


@functools.cache
def _processed_among(count: int) -> Any:
    return select(processed_table.c.event_id).where(
        processed_table.c.consumer == bindparam("name"), one_of(processed_table.c.event_id, count)
    )


# Built once per process rather than per batch.
_ADVANCE_CHECKPOINT = (
    update(checkpoints_table)
    .where(
        checkpoints_table.c.consumer == bindparam("name"),
        checkpoints_table.c.stream_sequence < bindparam("sequence"),
    )
    .values(stream_sequence=bindparam("sequence"), updated_at=bindparam("now"))
)
_CHECKPOINT = select(checkpoints_table.c.consumer).where(
    checkpoints_table.c.consumer == bindparam("name")
)
_NEW_CHECKPOINT = insert(checkpoints_table).values(
    consumer=bindparam("name"), stream_sequence=bindparam("sequence"), updated_at=bindparam("now")
)


async def _settle(messages: Sequence[Msg], handled: Sequence[Msg]) -> None:
    """Ack what was committed; hand everything else back for immediate redelivery, in order."""
    done = {id(m) for m in handled}
    for message in messages:
        with contextlib.suppress(Exception):  # an ack lost here only causes a harmless redelivery
            if id(message) in done:
                await message.ack()
            else:
                await message.nak()
