"""An event the broker refuses for good is quarantined, with the reason, and the events after
it still go out: one oversized event must not stop a service from publishing anything. A
transient failure (the stream missing) is still retried, not quarantined. A quarantined event
replayed once the cause is fixed goes out with its own event id."""

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from uuid import uuid4

from shared_tests_support import running_pipeline
from sqlalchemy.ext.asyncio import AsyncEngine

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import eventually
from rapport_shared.contracts import envelope, public_registry
from rapport_shared.contracts.base import EventContract, EventRegistry
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.messaging import connection, quarantine
from rapport_shared.messaging.outbox import OutboxRelay, backlog
from rapport_shared.runtime.metrics import ServiceMetrics, take_snapshot

STREAM = "RAPPORT_GOALS"


class Parcel(EventContract):
    """A public test event whose size the test chooses."""

    event_type: ClassVar[str] = "parcel"
    service: ClassVar[str] = "goals"

    label: str
    filler: str = ""


def registry_with_parcels() -> EventRegistry:
    registry = public_registry()
    registry.register(Parcel)
    return registry


async def append(engine: AsyncEngine, registry: EventRegistry, *parcels: Parcel) -> list[str]:
    store = EventStore(registry)
    ids = []
    for parcel in parcels:
        async with engine.begin() as conn:
            [stored] = await store.append(conn, f"parcel-{parcel.label}", 0, [parcel])
        ids.append(stored.event_id)
    return ids


async def labels_on_the_bus(js, registry: EventRegistry) -> list[str]:
    count = (await js.stream_info(STREAM)).state.messages
    messages = [await js.get_msg(STREAM, seq) for seq in range(1, count + 1)]
    return [envelope.decode(m.data, registry).contract.label for m in messages]


@contextlib.asynccontextmanager
async def relay_running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def quarantined(engine: AsyncEngine) -> list[dict]:
    async with engine.connect() as conn:
        return await quarantine.listing(conn)


async def test_an_event_over_the_brokers_max_payload_does_not_hold_back_the_rest(
    database_url, nats_server
):
    """nats-server's default max_payload is 1 MB; the relay knows it without being told."""
    registry = registry_with_parcels()
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        js = p.nc.jetstream()
        relay = OutboxRelay(p.engine, js, registry, poll_interval=0.2, retry_longest_seconds=0.5)
        _, oversized_id, _ = await append(
            p.engine,
            registry,
            Parcel(clinic_id="northside", label="before"),
            Parcel(clinic_id="riverside", label="huge", filler="x" * 1_100_000),
            Parcel(clinic_id="southside", label="after"),
        )
        async with relay_running(relay):
            on_the_bus = await eventually(
                lambda: _when(labels_on_the_bus(js, registry), lambda got: len(got) == 2)
            )
        assert on_the_bus == ["before", "after"]
        [held] = await quarantined(p.engine)
        assert held["event_id"] == oversized_id
        assert "max_payload" in held["reason"]
        assert held["bytes"] > 1_100_000
        async with p.engine.connect() as conn:
            assert await backlog(conn) == (0, None)
        snapshot = await take_snapshot(p.engine, js, [])
        assert snapshot.outbox_quarantined == 1
        metrics = (await ServiceMetrics().render(p.engine, snapshot)).decode()
        assert "rapport_outbox_quarantined 1.0" in metrics


async def test_the_relay_checks_headers_and_payload_against_the_servers_own_limit(
    database_url, tmp_path: Path
):
    """Over max_payload with its headers, a message makes the server close the connection, so
    every publish pipelined with it failed too, again after each reconnect. The relay checks
    before sending, against the limit of the server it is connected to."""
    config = tmp_path / "small.conf"
    config.write_text("max_payload: 4096\n")
    server = NatsServer(tmp_path / "nats", config_file=config).start()
    registry = registry_with_parcels()
    try:
        async with running_pipeline(database_url, server.url, start=False) as p:
            assert p.nc.max_payload == 4096
            js = p.nc.jetstream()
            relay = OutboxRelay(p.engine, js, registry, max_payload=lambda: p.nc.max_payload)
            # payload under the limit, headers and payload over it
            bare = _message(Parcel(clinic_id="northside", label="edge"))
            headers = quarantine.wire_size(bare) - len(bare.payload)
            filler = "x" * (4096 - len(bare.payload) - headers // 2)
            edge = _message(Parcel(clinic_id="northside", label="edge", filler=filler))
            assert len(edge.payload) <= 4096 < quarantine.wire_size(edge)
            await append(
                p.engine,
                registry,
                Parcel(clinic_id="northside", label="small"),
                Parcel(clinic_id="northside", label="edge", filler=filler),
                Parcel(clinic_id="northside", label="small-too"),
            )
            await relay.publish_batch()
            assert await labels_on_the_bus(js, registry) == ["small", "small-too"]
            [held] = await quarantined(p.engine)
            assert "exceeds the broker's max_payload of 4096 bytes" in held["reason"]
            assert p.nc.is_connected  # nothing too large was sent
    finally:
        server.stop()


async def test_a_stream_limit_refusal_is_quarantined_and_replays_with_its_own_id(
    database_url, nats_server
):
    registry = registry_with_parcels()
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        js = p.nc.jetstream()
        config = (await js.stream_info(STREAM)).config
        await js.update_stream(dataclasses.replace(config, max_msg_size=2048))
        # nats-py loses JetStream's refusal of a pipelined publish: the relay learns it by
        # publishing what got no answer again, one by one, once the ack deadline has passed.
        relay = OutboxRelay(p.engine, js, registry, ack_timeout=1.0, retry_longest_seconds=0.5)
        _, refused_id, _ = await append(
            p.engine,
            registry,
            Parcel(clinic_id="northside", label="first"),
            Parcel(clinic_id="northside", label="wide", filler="y" * 4000),
            Parcel(clinic_id="northside", label="last"),
        )
        async with relay_running(relay):
            [held] = await eventually(lambda: quarantined(p.engine))
        assert await labels_on_the_bus(js, registry) == ["first", "last"]
        assert "message size exceeds maximum allowed" in held["reason"]
        assert "10054" in held["reason"]

        # Not fixed yet: refused again, and it stays.
        async with p.engine.connect() as conn:
            row = await quarantine.find(conn, held["position"])
        assert await quarantine.republish(js, row, max_payload=p.nc.max_payload) is not None

        # The operator raises the limit: the replay publishes it, with its own event id.
        await js.update_stream(dataclasses.replace(config, max_msg_size=-1))
        assert await quarantine.republish(js, row, max_payload=p.nc.max_payload) is None
        async with p.engine.begin() as conn:
            await quarantine.discard(conn, held["position"])
        assert await labels_on_the_bus(js, registry) == ["first", "last", "wide"]
        replayed = await js.get_msg(STREAM, 3)
        assert replayed.headers["Nats-Msg-Id"] == refused_id
        assert envelope.decode(replayed.data, registry).event_id == refused_id
        assert await quarantined(p.engine) == []


async def test_a_missing_stream_is_transient_nothing_is_quarantined(database_url, nats_server):
    """No responders: the stream is gone (or JetStream restarting), which every later event
    meets too. Quarantining would set aside everything; the relay retries instead."""
    registry = registry_with_parcels()
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        js = p.nc.jetstream()
        await append(p.engine, registry, Parcel(clinic_id="northside", label="waits"))
        await js.delete_stream(STREAM)
        relay = OutboxRelay(p.engine, js, registry, ack_timeout=1.0)
        with contextlib.suppress(RuntimeError):
            await relay.publish_batch()
        assert await quarantined(p.engine) == []
        await connection.ensure_stream(js, "goals")
        await relay.publish_batch()
        assert await labels_on_the_bus(js, registry) == ["waits"]


def _message(parcel: Parcel) -> envelope.OutgoingMessage:
    """The message as the relay would send it (the same sizes: ids and times are fixed-width)."""
    return envelope.encode(
        parcel,
        event_id=str(uuid4()),
        stream_id=f"parcel-{parcel.label}",
        occurred_at=datetime.now(UTC),
        metadata={},
    )


async def _when(query, condition):
    value = await query
    return value if condition(value) else None
