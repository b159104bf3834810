"""The reliability core against a real nats-server and a real database."""

import asyncio
from uuid import uuid4

import pytest
from shared_tests_support import POISON_COUNSELOR, batches_applied, goal, running_pipeline
from sqlalchemy import func, select

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import eventually
from rapport_shared.contracts import envelope, public_registry
from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict
from rapport_shared.messaging import connection
from rapport_shared.messaging.outbox import OutboxRelay, backlog
from rapport_shared.persistence.schema import dead_letters_table, events_table


async def test_events_flow_from_outbox_to_consumer_projection(database_url, nats_server):
    async with running_pipeline(database_url, nats_server.url) as p:
        for _ in range(3):
            await p.append_goal(goal("alice"))
        await p.append_goal(goal("bob"))
        assert await eventually(lambda: _counts_equal(p, {"alice": 3, "bob": 1}))
        assert await eventually(lambda: _nothing_waiting(p))  # the relay's cursor written too


async def _nothing_waiting(p) -> bool:
    async with p.engine.connect() as conn:
        return await backlog(conn) == (0, None)


async def _counts_equal(p, expected):
    return await p.counts() == expected


async def test_stale_write_is_refused_and_changes_nothing(database_url, nats_server):
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        stream = uuid4()
        await p.append_goal(goal(), stream=stream)
        with pytest.raises(ConcurrencyConflict):
            await p.append_goal(goal(), stream=stream)  # also expects version 0
        async with p.engine.connect() as conn:
            events = (await conn.execute(select(func.count()).select_from(events_table))).scalar()
            waiting, _ = await backlog(conn)
        assert (events, waiting) == (1, 1)


async def test_concurrent_writers_on_one_stream_exactly_one_wins(database_url, nats_server):
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        stream = uuid4()
        results = await asyncio.gather(
            *(p.append_goal(goal(), stream=stream) for _ in range(5)), return_exceptions=True
        )
        conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
        assert len(conflicts) == 4
        assert [r for r in results if r is None] == [None]


async def test_committed_events_are_published_by_a_relay_started_later(database_url, nats_server):
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        for _ in range(5):
            await p.append_goal(goal("carol"))
    # A new process (relay and consumer) finds what the first left in the outbox.
    async with running_pipeline(database_url, nats_server.url) as p:
        assert await eventually(lambda: _counts_equal(p, {"carol": 5}))


async def test_duplicates_and_redeliveries_change_nothing(database_url, nats_server):
    async with running_pipeline(database_url, nats_server.url) as p:
        await p.append_goal(goal("dana"))
        assert await eventually(lambda: _counts_equal(p, {"dana": 1}))
        stored = await p.nc.jetstream().get_last_msg(
            "RAPPORT_GOALS", "rapport.northside.goals.goal-agreed"
        )
        js = p.nc.jetstream()
        # Same message id: JetStream's duplicate window drops it.
        ack = await js.publish(
            stored.subject, stored.data, headers={"Nats-Msg-Id": stored.headers["Nats-Msg-Id"]}
        )
        assert ack.duplicate
        # A fresh message id (as after the duplicate window): the consumer drops it by event id.
        await js.publish(stored.subject, stored.data, headers={"Nats-Msg-Id": str(uuid4())})
        await p.append_goal(goal("erin"))  # a marker behind the copy
        assert await eventually(lambda: _counts_equal(p, {"dana": 1, "erin": 1}))
        assert p.consumer.applied == 2


@pytest.mark.parametrize("batched", [None, "apply_batch", "begin_batch"], ids=str)
async def test_a_copy_within_one_fetched_batch_is_applied_once(database_url, nats_server, batched):
    # The consumer applies a whole batch in one transaction; a copy of an event in the same
    # batch (republished after the duplicate window) must still count once.
    async with running_pipeline(database_url, nats_server.url, start=False, batched=batched) as p:
        for _ in range(3):
            await p.append_goal(goal("gina"))
        assert await p.relay.publish_batch() == 3
        js = p.nc.jetstream()
        first = await js.get_msg("RAPPORT_GOALS", 1)
        await js.publish(first.subject, first.data, headers={"Nats-Msg-Id": str(uuid4())})
        pull = await p.consumer.bind()
        messages = await pull.fetch(10, timeout=2)
        assert len(messages) == 4
        assert await p.consumer.process(messages) is None
        assert await p.counts() == {"gina": 3}
        assert p.consumer.applied == 3
        # A batch handler is given each event once, in stream order.
        copied = [envelope.decode(m.data, public_registry()).event_id for m in messages[:3]]
        assert batches_applied == ([copied] if batched else [])
        # Everything was acked: nothing comes back.
        with pytest.raises(TimeoutError):
            await pull.fetch(1, timeout=0.5)


@pytest.mark.parametrize("linger", [0.0, 1.0])
async def test_a_lingering_consumer_applies_what_arrived_meanwhile_in_one_batch(
    database_url, nats_server, linger
):
    async with running_pipeline(
        database_url, nats_server.url, batched="apply_batch", linger_seconds=linger
    ) as p:
        await p.append_goal(goal("gina"))
        assert await eventually(lambda: _counts_equal(p, {"gina": 1}))
        # Five commands, one after another, while the consumer lingers after its first batch.
        for _ in range(5):
            await p.append_goal(goal("gina"))
            await asyncio.sleep(0.02)
        assert await eventually(lambda: _counts_equal(p, {"gina": 6}))
    sizes = [len(batch) for batch in batches_applied]
    if linger:
        assert sizes == [1, 5]
    else:  # fetched as they came
        assert len(sizes) > 2


@pytest.mark.parametrize("batched", [None, "apply_batch", "begin_batch"], ids=str)
async def test_poison_event_is_dead_lettered_and_later_events_still_apply(
    database_url, nats_server, batched
):
    pipeline = running_pipeline(database_url, nats_server.url, max_deliveries=3, batched=batched)
    async with pipeline as p:
        js = p.nc.jetstream()
        await js.publish("rapport.northside.goals.goal-agreed", b"{not json")
        await p.append_goal(goal("frank", counselor_id=POISON_COUNSELOR))
        await p.append_goal(goal("frank"))
        assert await eventually(lambda: _counts_equal(p, {"frank": 1}))

        async def dead_letters():
            async with p.engine.connect() as conn:
                return (await conn.execute(select(dead_letters_table).order_by("id"))).all()

        rows = await eventually(lambda: _at_least(dead_letters, 2))
        assert "not JSON" in rows[0].error
        assert rows[0].deliveries == 1
        assert "this event always fails" in rows[1].error
        assert rows[1].deliveries == 3


async def _at_least(probe, n):
    rows = await probe()
    return rows if len(rows) >= n else None


async def test_relay_survives_a_broker_outage(database_url, tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    try:
        async with running_pipeline(database_url, server.url) as p:
            await p.append_goal(goal("gina"))
            assert await eventually(lambda: _counts_equal(p, {"gina": 1}))
            server.stop()
            for _ in range(3):
                await p.append_goal(goal("gina"))  # accepted while the broker is down
            server.start()
            assert await eventually(lambda: _counts_equal(p, {"gina": 4}), timeout=30)
    finally:
        server.stop()


async def test_a_relay_waiting_out_a_failure_retries_once_the_broker_is_back(
    database_url, tmp_path
):
    """Backing off after failed publishes, the relay is woken by the reconnection (as
    ServiceRuntime wires it) instead of sleeping out its delay: here 60 s, so only the wake
    can get the event out within the test's deadline."""
    server = NatsServer(tmp_path / "nats").start()
    relay: OutboxRelay | None = None

    async def reconnected() -> None:
        assert relay is not None
        relay.broker_back()

    nc = await connection.connect(server.url, "test-relay", reconnected=reconnected)
    try:
        async with running_pipeline(database_url, server.url, start=False) as p:
            relay = OutboxRelay(
                p.engine,
                nc.jetstream(),
                public_registry(),
                ack_timeout=0.5,
                retry_first_seconds=60,
                retry_longest_seconds=60,
            )
            task = asyncio.create_task(relay.run())
            try:
                await p.append_goal(goal("gina"))
                relay.notify()
                await eventually(lambda: relay.published == 1)
                server.stop()
                await p.append_goal(goal("gina"))  # kept while the broker is away
                relay.notify()
                await eventually(lambda: relay.failures == 1)  # now waiting 60 s
                server.start()
                await eventually(lambda: relay.published == 2, timeout=20)
                assert relay.failures == 0
                info = await nc.jetstream().stream_info("RAPPORT_GOALS")
                assert info.state.messages == 2
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    finally:
        await nc.close()
        server.stop()
