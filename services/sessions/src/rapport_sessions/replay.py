"""Replays another service's stream from its first message through a subscription's handlers,
with an ephemeral consumer, for projection rebuilds. The durable consumer is left alone: its
checkpoint stays where it is and it carries on with whatever arrives after the replay."""

import contextlib

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts.base import EventRegistry, UnknownEventType
from rapport_shared.contracts.envelope import MalformedEvent, decode
from rapport_shared.messaging.consumer import Subscription

FETCH_BATCH = 500
FETCH_TIMEOUT_SECONDS = 1.0


async def replay_stream(
    conn: AsyncConnection,
    js: JetStreamContext,
    registry: EventRegistry,
    subscription: Subscription,
) -> int:
    """Apply every event of the subscription's stream that it handles, up to the stream's last
    sequence as of the start; returns how many were applied."""
    try:
        last_sequence = (await js.stream_info(subscription.stream)).state.last_seq
    except NotFoundError:
        return 0  # the producer never started: nothing to replay
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        filter_subjects=subscription.filter_subjects,
        inactive_threshold=60.0,
        mem_storage=True,
    )
    pull = await js.pull_subscribe(
        subscription.filter_subjects[0], stream=subscription.stream, config=config
    )
    info = await pull.consumer_info()
    applied = 0
    try:
        caught_up = info.num_pending == 0
        while not caught_up:
            try:
                messages = await pull.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_SECONDS)
            except TimeoutError:
                caught_up = (await pull.consumer_info()).num_pending == 0
                continue
            for message in messages:
                applied += await _apply(conn, message, registry, subscription)
                metadata = message.metadata
                caught_up = metadata.sequence.stream >= last_sequence or metadata.num_pending == 0
    finally:
        with contextlib.suppress(Exception):  # else the server drops it after inactive_threshold
            await js.delete_consumer(subscription.stream, info.name)
            await pull.unsubscribe()
    return applied


async def _apply(
    conn: AsyncConnection, message: Msg, registry: EventRegistry, subscription: Subscription
) -> int:
    try:
        incoming = decode(message.data, registry)
    except (MalformedEvent, UnknownEventType):
        return 0  # the live consumer dead-letters these; a rebuild skips them
    handler = subscription.handlers.get(incoming.event_type)
    if handler is None:
        return 0
    await handler(conn, incoming)
    return 1
