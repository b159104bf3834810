"""deploy/nats/tenants.conf on a real nats-server: an integrator reads its own clinic's events,
live and through a JetStream pull consumer, and nothing of another clinic's; a service user
publishes only its own events and declares only its own stream."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import nats
import pytest
from broker_support import TENANTS_CONF, ErrorLog, tenant_env, tenant_password
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError
from shared_tests_support import goal, running_pipeline

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import eventually, subscriptions_in_effect
from rapport_shared.contracts import envelope
from rapport_shared.messaging import connection

STREAM = "RAPPORT_GOALS"
CLINICS = ("northside", "riverside")
# A refused JetStream API request gets no reply; the refusal itself arrives as an async error.
REFUSED_REQUEST_TIMEOUT = 0.5


@pytest.fixture
def broker(tmp_path, monkeypatch) -> Iterator[NatsServer]:
    """nats-server with the shipped tenants.conf (-c) and its passwords in the environment."""
    for name, value in tenant_env().items():
        monkeypatch.setenv(name, value)
    server = NatsServer(tmp_path / "nats", config_file=TENANTS_CONF).start()
    try:
        yield server
    finally:
        server.stop()


async def connect_as(broker: NatsServer, user: str, errors: ErrorLog | None = None) -> NATS:
    # Integrators take replies on their clinic's own inbox prefix, the only one they may read.
    inbox = f"_INBOX_{user}" if user in CLINICS else "_INBOX"
    return await nats.connect(
        broker.url,
        user=user,
        password=tenant_password(user),
        inbox_prefix=inbox,
        error_cb=(errors or ErrorLog()).record,
        allow_reconnect=False,
    )


async def publish_goal(js: JetStreamContext, clinic: str) -> str:
    """Publish one goal-agreed CloudEvent as the outbox relay does; returns its event id."""
    event_id = str(uuid.uuid4())
    message = envelope.encode(
        goal(clinic=clinic),
        event_id=event_id,
        stream_id=f"goal-{event_id}",
        occurred_at=datetime.now(UTC),
        metadata={},
    )
    await js.publish(message.subject, message.payload, headers=message.headers)
    return event_id


def event_ids(messages: list[Msg]) -> list[str]:
    return [json.loads(m.data)["id"] for m in messages]


@pytest.fixture
async def goals(broker) -> NATS:
    """The goals service user, owner of RAPPORT_GOALS, which it declares itself."""
    nc = await connect_as(broker, "goals")
    await connection.ensure_stream(nc.jetstream(), "goals")
    yield nc
    await nc.close()


async def test_integrator_reads_its_clinic_live_and_through_a_durable_pull_consumer(broker, goals):
    errors = ErrorLog()
    northside = await connect_as(broker, "northside", errors)
    live: list[Msg] = []

    async def collect(msg: Msg) -> None:
        live.append(msg)

    await northside.subscribe("rapport.northside.>", cb=collect)
    await subscriptions_in_effect(northside)

    js = goals.jetstream()
    published = []
    for clinic in ("northside", "riverside", "northside", "riverside", "northside"):
        event_id = await publish_goal(js, clinic)
        if clinic == "northside":
            published.append(event_id)

    # This wait failed twice in full local runs (never alone, 25 of 25 under CPU load): what
    # the client and the server saw is kept in the failure to find out why.
    try:
        await eventually(lambda: _has(live, len(published)))
    except AssertionError as failure:
        raise AssertionError(
            f"{len(live)} of {len(published)} live messages (received {event_ids(live)}, published"
            f" {published}: which one is missing); {_state(broker, northside, errors)}"
        ) from failure
    assert event_ids(live) == published

    # A durable pull consumer as nats-py builds it: pull_subscribe(durable=...) sets the name
    # and the single filter, so the request goes to the filtered create subject.
    pull = await northside.jetstream().pull_subscribe(
        "rapport.northside.>", durable="northside-integration", stream=STREAM
    )
    fetched: list[Msg] = []
    while len(fetched) < len(published):
        fetched += await pull.fetch(len(published) - len(fetched), timeout=5)
    assert event_ids(fetched) == published
    assert {m.subject for m in fetched} == {"rapport.northside.goals.goal-agreed"}
    assert {json.loads(m.data)["clinicid"] for m in fetched} == {"northside"}
    for message in fetched:
        await message.ack()

    async def acks_accepted() -> bool:
        info = await pull.consumer_info()
        return info.num_ack_pending == 0 and info.num_pending == 0

    assert await eventually(acks_accepted)  # $JS.ACK for its consumer is granted
    assert errors.messages == []  # the allow list covers nats-py's whole happy path
    await northside.close()


async def test_integrator_cannot_subscribe_to_another_clinics_events(broker, goals):
    errors = ErrorLog()
    northside = await connect_as(broker, "northside", errors)
    foreign: list[Msg] = []
    own: list[Msg] = []

    async def collect_foreign(msg: Msg) -> None:
        foreign.append(msg)

    async def collect_own(msg: Msg) -> None:
        own.append(msg)

    await northside.subscribe("rapport.riverside.>", cb=collect_foreign)
    # Wildcards wider than the clinic, and the shared inbox where other tenants' pull
    # deliveries and API replies travel, are refused the same way.
    for wider in ("rapport.>", "rapport.*.goals.>", "_INBOX.>"):
        await northside.subscribe(wider, cb=collect_foreign)
    await northside.subscribe("rapport.northside.>", cb=collect_own)
    await subscriptions_in_effect(northside)

    for subject in ("rapport.riverside.>", "rapport.>", "rapport.*.goals.>", "_INBOX.>"):
        assert await eventually(
            lambda s=subject: errors.reported(f'permissions violation for subscription to "{s}"')
        )

    js = goals.jetstream()
    await publish_goal(js, "riverside")
    marker = await publish_goal(js, "northside")
    # One publisher, one subscriber connection: delivery is in order, so once the northside
    # marker is here a riverside event would have arrived before it.
    assert await eventually(lambda: _has(own, 1))
    assert event_ids(own) == [marker]
    assert foreign == []
    await northside.close()


async def test_integrator_cannot_create_consumers_beyond_its_clinic(broker, goals):
    errors = ErrorLog()
    northside = await connect_as(broker, "northside", errors)
    js = northside.jetstream(timeout=REFUSED_REQUEST_TIMEOUT)
    name = "northside-integration"
    attempts = {
        # another clinic's filter, on the filtered create subject
        f"$js.api.consumer.create.{STREAM}.{name}.rapport.riverside.>": ConsumerConfig(
            name=name, durable_name=name, filter_subject="rapport.riverside.>"
        ),
        # every clinic: the wildcard token is literal to the permission check
        f"$js.api.consumer.create.{STREAM}.{name}.rapport.*.>": ConsumerConfig(
            name=name, durable_name=name, filter_subject="rapport.*.>"
        ),
        # unfiltered: the filter (here none at all) would only be in the request body
        f"$js.api.consumer.create.{STREAM}.{name}": ConsumerConfig(name=name, durable_name=name),
        # a list of filters also goes to the unfiltered subject
        f"$js.api.consumer.create.{STREAM}.{name}-multi": ConsumerConfig(
            name=f"{name}-multi", filter_subjects=["rapport.northside.>", "rapport.riverside.>"]
        ),
        # the legacy durable form (no name): filter only in the body
        f"$js.api.consumer.durable.create.{STREAM}.{name}": ConsumerConfig(
            durable_name=name, filter_subject="rapport.northside.>"
        ),
        # its own clinic's filter, but riverside's consumer name: no hijacking its consumer
        f"$js.api.consumer.create.{STREAM}.riverside-integration.rapport.northside.>": (
            ConsumerConfig(
                name="riverside-integration",
                durable_name="riverside-integration",
                filter_subject="rapport.northside.>",
            )
        ),
    }
    results = await asyncio.gather(
        *(js.add_consumer(STREAM, config) for config in attempts.values()),
        return_exceptions=True,
    )
    for subject, result in zip(attempts, results, strict=True):
        assert isinstance(result, TimeoutError), (subject, result)  # no reply: never delivered
        assert await eventually(
            lambda s=subject: errors.reported(f'permissions violation for publish to "{s}"')
        ), errors.messages
    # Nothing was created behind the refusals.
    assert [c.name for c in await goals.jetstream().consumers_info(STREAM)] == []
    await northside.close()


async def test_integrator_cannot_pull_from_another_clinics_consumer(broker, goals):
    riverside = await connect_as(broker, "riverside")
    js = goals.jetstream()
    riverside_event = await publish_goal(js, "riverside")
    # riverside's own consumer works the same way as northside's
    riverside_pull = await riverside.jetstream().pull_subscribe(
        "rapport.riverside.>", durable="riverside-integration", stream=STREAM
    )

    errors = ErrorLog()
    northside = await connect_as(broker, "northside", errors)
    njs = northside.jetstream(timeout=REFUSED_REQUEST_TIMEOUT)
    stolen = await njs.pull_subscribe_bind(durable="riverside-integration", stream=STREAM)
    with pytest.raises(TimeoutError):
        await stolen.fetch(1, timeout=REFUSED_REQUEST_TIMEOUT)
    with pytest.raises(TimeoutError):
        await njs.consumer_info(STREAM, "riverside-integration")
    for denied in (
        f"$js.api.consumer.msg.next.{STREAM}.riverside-integration",
        f"$js.api.consumer.info.{STREAM}.riverside-integration",
    ):
        assert await eventually(
            lambda s=denied: errors.reported(f'permissions violation for publish to "{s}"')
        ), errors.messages

    # The refused pull took nothing: riverside still gets its event, first delivery.
    fetched = await riverside_pull.fetch(1, timeout=5)
    assert event_ids(fetched) == [riverside_event]
    assert fetched[0].metadata.num_delivered == 1
    await northside.close()
    await riverside.close()


async def test_service_user_publishes_only_its_own_events_and_declares_only_its_stream(
    broker, goals
):
    errors = ErrorLog()
    nc = await connect_as(broker, "goals", errors)
    await nc.publish("rapport.northside.sessions.session-closed", b"{}")
    js = nc.jetstream(timeout=REFUSED_REQUEST_TIMEOUT)
    # Only the owner declares a stream: goals may read RAPPORT_SESSIONS' info, not create it.
    with pytest.raises(TimeoutError):
        await connection.ensure_stream(js, "sessions")
    for denied in (
        "rapport.northside.sessions.session-closed",
        "$js.api.stream.create.rapport_sessions",
    ):
        assert await eventually(
            lambda s=denied: errors.reported(f'permissions violation for publish to "{s}"')
        ), errors.messages

    sessions = await connect_as(broker, "sessions")
    await connection.ensure_stream(sessions.jetstream(), "sessions")
    # ...and once its owner has, goals binds its consumers to it.
    info = await goals.jetstream().add_consumer(
        "RAPPORT_SESSIONS",
        ConsumerConfig(
            durable_name="goals-on-sessions", filter_subjects=["rapport.*.sessions.session-closed"]
        ),
    )
    assert info.name == "goals-on-sessions"
    with pytest.raises(NotFoundError):
        await goals.jetstream().stream_info("RAPPORT_NOTIFICATIONS")  # readable, just absent
    await sessions.close()
    await nc.close()


async def test_shared_pipeline_runs_as_the_goals_service_user(broker, database_url):
    """The real outbox relay and consumer runner need nothing beyond the service grant."""
    url = broker.url.replace("nats://", f"nats://goals:{tenant_password('goals')}@")
    async with running_pipeline(database_url, url) as p:
        await p.append_goal(goal("alice"))
        await p.append_goal(goal("alice", clinic="riverside"))

        async def both_applied() -> bool:
            return await p.counts() == {"alice": 2}

        assert await eventually(both_applied)


async def _has(messages: list[Msg], count: int) -> bool:
    return len(messages) >= count


def _state(broker: NatsServer, client: NATS, errors: ErrorLog) -> str:
    log = (broker.store_dir / "nats-server.log").read_text(errors="replace").splitlines()
    return (
        # in_msgs: every message the client's parser took off the socket, for any subscription
        f"client connected={client.is_connected} in_msgs={client.stats['in_msgs']}"
        f" last_error={client.last_error!r}"
        f" errors={errors.messages}; server log tail:\n" + "\n".join(log[-30:])
    )


async def test_the_integrator_example_runs_as_a_clinic_tenant(broker, goals):
    """examples/integrator.py uses exactly the names, filters and inbox a tenant may use."""
    import asyncio
    import subprocess
    import sys
    from pathlib import Path

    js = goals.jetstream()
    northside_id = await publish_goal(js, "northside")
    await publish_goal(js, "riverside")
    example = Path(__file__).parents[1] / "examples" / "integrator.py"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(example),
        "--server",
        broker.url,
        "--clinic",
        "northside",
        "--user",
        "northside",
        "--password",
        tenant_password("northside"),
        "--max-idle",
        "1.5",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    [line] = out.decode().splitlines()
    assert f"id={northside_id}" in line
