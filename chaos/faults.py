"""The faults. Each runs beside the load (started mid-load, waiting on the load's progress) and
returns notes for the report; bus faults also say which dead letters they must cause.

The sleeps here are the faults' own durations (how long a broker stays down), not waits for
the system under test: every check polls with a deadline (chaos.run.converge).
"""

import asyncio
import itertools
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import nats

from chaos.load import Load
from chaos.observe import Databases
from chaos.suite import Suite

# Which durable consumer reads which injected subject: (service, consumer) per event.
READERS = {
    "sessions.session-closed": [
        ("goals", "goals-plans"),
        ("notifications", "notifications-sessions"),
    ],
    "goals.homework-completed": [
        ("notifications", "notifications"),
        ("sessions", "sessions-notes"),
    ],
    "goals.measure-recorded": [("sessions", "sessions-notes")],
}


@dataclass
class Notes:
    text: list[str] = field(default_factory=list)
    # Dead letters the fault must cause: (service, consumer, payload).
    dead_letters: list[tuple[str, str, bytes]] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)  # (what, held)

    def add(self, text: str) -> None:
        self.text.append(text)


Inject = Callable[[Suite, Load, random.Random], Awaitable[Notes]]


@dataclass
class Fault:
    key: str
    title: str
    inject: Inject
    cluster: bool = False
    goals_on_postgres: bool = False


async def kill_services(suite: Suite, load: Load, rng: random.Random) -> Notes:
    """SIGKILL each service twice, in random order at random moments, then start it again. A
    kill waits for the previous victim to be ready again: one service down at a time."""
    notes = Notes()
    victims: list[str] = []
    for _ in range(2):  # each round kills every service once, in its own random order
        victims += rng.sample(list(suite.processes), len(suite.processes))
    # Spread over the load (each kill stalls it a while), each moment jittered.
    moments = [0.05 + 0.8 * (k + rng.random()) / len(victims) for k in range(len(victims))]
    for victim, moment in zip(victims, moments, strict=True):
        await load.wait_for(moment)
        if load.finished_at is not None:
            break
        suite.processes[victim].kill()
        down_at = time.monotonic()
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        await suite.restart(victim)
        notes.add(
            f"kill -9 {victim} at {moment:.0%} of the load, ready again after "
            f"{time.monotonic() - down_at:.1f} s"
        )
    return notes


async def stop_nats(suite: Suite, load: Load, rng: random.Random) -> Notes:
    """nats-server stopped for 10 s mid-load, then started on the same port and store."""
    notes = Notes()
    assert suite.nats is not None
    await load.wait_for(0.3)
    before = _accepted(load)
    suite.nats.stop()
    await asyncio.sleep(10)
    during = _accepted(load) - before
    databases = Databases(suite.database_urls)
    try:
        backlog = await databases.outbox_backlog()
    finally:
        await databases.dispose()
    suite.nats.start()
    notes.add(
        f"nats-server down 10 s at 30 % of the load; {during} commands accepted meanwhile, "
        f"{backlog} events waiting in the outboxes when it came back (drained: see converge)"
    )
    notes.checks.append(("commands accepted while NATS was down", during > 0))
    notes.checks.append(("events kept in the outboxes while NATS was down", backlog > 0))
    return notes


async def kill_cluster_node(suite: Suite, load: Load, rng: random.Random) -> Notes:
    """SIGKILL the node leading RAPPORT_GOALS (JetStream elects another from the two replicas
    left); it stays down to the end of the run."""
    notes = Notes()
    cluster = suite.nats_cluster
    assert cluster is not None
    await load.wait_for(0.4)
    nc = await nats.connect(servers=cluster.urls)
    try:
        info = await nc.jetstream().stream_info("RAPPORT_GOALS")
    finally:
        await nc.close()
    assert info.cluster is not None and info.cluster.leader is not None
    cluster.node(info.cluster.leader).server.kill()
    notes.add(
        f"killed {info.cluster.leader} (RAPPORT_GOALS leader, replicas 3) at 40 % of the load"
    )
    return notes


def _bad_payload(kind: str, subject: str, marker: str) -> bytes:
    service, event = subject.split(".")
    if kind == "not-json":
        return f"chaos {marker}: not a CloudEvent {{".encode()
    if kind == "missing-fields":
        return json.dumps({"specversion": "1.0", "id": marker, "chaos": marker}).encode()
    # A well-formed CloudEvent of a version no consumer knows.
    return json.dumps(
        {
            "specversion": "1.0",
            "id": marker,
            "source": f"/rapport/{service}/northside",
            "type": f"rapport.{service}.{event}.v99",
            "datacontenttype": "application/json",
            "clinicid": "northside",
            "data": {"clinic_id": "northside", "chaos": marker},
        }
    ).encode()


async def inject_malformed(suite: Suite, load: Load, rng: random.Random) -> Notes:
    """About 1 % of the events on the bus: not JSON, a CloudEvent lacking fields, or an unknown
    version, on subjects the consumers read."""
    notes = Notes()
    nc = await nats.connect(servers=suite.nats_url.split(","))
    js = nc.jetstream()
    kinds = itertools.cycle(["not-json", "missing-fields", "unknown-version"])
    subjects = itertools.cycle(READERS)
    injected = 0
    try:
        # Roughly three events per command: one injected per 33 commands is about 1 %.
        while load.finished_at is None:
            await load.wait_for((injected + 1) * 33 / load.target)
            if load.finished_at is not None:
                break
            subject, kind = next(subjects), next(kinds)
            marker = str(uuid.uuid4())
            payload = _bad_payload(kind, subject, marker)
            await js.publish(
                f"rapport.northside.{subject}", payload, headers={"Nats-Msg-Id": marker}
            )
            injected += 1
            for service, consumer in READERS[subject]:
                notes.dead_letters.append((service, consumer, payload))
        total = await _stream_messages(js)
    finally:
        await nc.close()
    notes.add(f"{injected} bad messages injected ({injected / max(total, 1):.1%} of {total})")
    return notes


async def republish(suite: Suite, load: Load, rng: random.Random, *, new_id: bool) -> Notes:
    """10 % of the sessions' and goals' events published again while the load runs: with their
    own Nats-Msg-Id (JetStream's duplicate window must drop every copy), or with a new one and the
    same event id, as a republish after the window looks (the consumers must recognise the event
    id)."""
    notes = Notes()
    nc = await nats.connect(servers=suite.nats_url.split(","))
    js = nc.jetstream()
    read = {"RAPPORT_SESSIONS": 0, "RAPPORT_GOALS": 0}
    seen = copies = dropped = 0
    try:
        while True:
            finished = load.finished_at is not None
            for stream in read:
                last = (await js.stream_info(stream)).state.last_seq
                for sequence in range(read[stream] + 1, last + 1):
                    message = await js.get_msg(stream, sequence)
                    headers = dict(message.headers or {})
                    if headers.get("Chaos-Copy"):
                        continue
                    seen += 1
                    if rng.random() >= 0.10:
                        continue
                    copy = {**headers, "Chaos-Copy": "1"}
                    if new_id:
                        copy["Nats-Msg-Id"] = str(uuid.uuid4())
                    ack = await js.publish(str(message.subject), message.data or b"", headers=copy)
                    copies += 1
                    dropped += bool(ack.duplicate)
                read[stream] = last
            if finished:
                break
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
    how = "a new message id" if new_id else "their message id"
    notes.add(
        f"{copies} of {seen} events republished with {how}; "
        f"{dropped} dropped by JetStream's duplicate window"
    )
    # Same id: every copy dropped by the broker. New id: every copy stored, for the consumers.
    notes.checks.append(
        ("duplicate window drops same-id copies only", dropped == (0 if new_id else copies))
    )
    notes.checks.append(("about 10 % republished", 0.05 <= copies / max(seen, 1) <= 0.15))
    return notes


async def restart_postgres(suite: Suite, load: Load, rng: random.Random) -> Notes:
    """The goals service's PostgreSQL (a private cluster) stopped for 3 s mid-load and started
    again: goals must reconnect by itself."""
    notes = Notes()
    postgres = suite.postgres
    assert postgres is not None
    await load.wait_for(0.35)
    await asyncio.to_thread(postgres.stop)
    down_at, before = time.monotonic(), len(load.sent)
    await asyncio.sleep(3)
    await asyncio.to_thread(postgres.start)
    errors = sum(
        1
        for c in load.sent[before:]
        if c.request is not None and c.request.service == "goals" and (c.status or 0) >= 500
    )
    notes.add(
        f"PostgreSQL (goals) down {time.monotonic() - down_at:.1f} s at 35 % of the load; "
        f"{errors} goals commands answered 5xx meanwhile"
    )
    mark = len(load.sent)
    await load.wait_for(min(1.0, load.progress + 0.1))
    recovered = sum(
        1
        for c in load.sent[mark:]
        if c.request is not None and c.request.service == "goals" and c.status in (200, 201)
    )
    notes.add(f"goals accepted {recovered} commands after the restart without being restarted")
    notes.checks.append(("goals accepts commands again after the restart", recovered > 0))
    return notes


def _accepted(load: Load) -> int:
    return sum(1 for c in load.sent if c.status is not None and c.status < 300)


async def _stream_messages(js: Any) -> int:
    total = 0
    for stream in ("RAPPORT_SESSIONS", "RAPPORT_GOALS", "RAPPORT_NOTIFICATIONS"):
        total += (await js.stream_info(stream)).state.messages
    return int(total)


async def no_fault(suite: Suite, load: Load, rng: random.Random) -> Notes:
    """The same load undisturbed: what the faults' rows compare with."""
    return Notes()


# Not run by default (`--faults calm,calm-postgres` asks for them).
BASELINES = [
    Fault("calm", "0. no fault", no_fault),
    Fault("calm-postgres", "0. no fault, goals on PostgreSQL", no_fault, goals_on_postgres=True),
]

FAULTS = [
    Fault("kill", "1. kill -9 each service (x2), restart", kill_services),
    Fault("nats", "2. NATS stopped 10 s, restarted", stop_nats),
    Fault("node", "3. cluster: stream leader killed", kill_cluster_node, cluster=True),
    Fault("malformed", "4. 1 % malformed/unknown-version", inject_malformed),
    Fault("same-id", "5a. 10 % republished, same msg id", partial(republish, new_id=False)),
    Fault("new-id", "5b. 10 % republished, new msg id", partial(republish, new_id=True)),
    Fault("postgres", "6. PostgreSQL restarted (goals)", restart_postgres, goals_on_postgres=True),
]
