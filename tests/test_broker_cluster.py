"""The shipped NATS configs, and the shared event pipeline on a three-node JetStream cluster
that loses a node in the middle of the traffic."""

import shutil
import subprocess
import time

import pytest
from broker_support import DEPLOY_NATS, NatsCluster, cluster_pipeline, tenant_env
from shared_tests_support import goal
from sqlalchemy import func, select

from rapport_devtools.natsserver import nats_server_binary
from rapport_devtools.testing import eventually
from rapport_shared.messaging.outbox import backlog
from rapport_shared.persistence.schema import dead_letters_table, processed_table

EVENTS = 300
CLIENTS = 10
SHIPPED_CONFIGS = ["single.conf", *(f"cluster/node-{n}.conf" for n in (1, 2, 3))]


@pytest.mark.parametrize("tenants", [False, True], ids=["open", "with-tenants"])
@pytest.mark.parametrize("config", SHIPPED_CONFIGS)
def test_shipped_config_is_valid(tmp_path, config, tenants):
    """nats-server -t accepts each shipped file, also with the tenants include switched on."""
    copy = tmp_path / "nats"
    shutil.copytree(DEPLOY_NATS, copy)
    path = copy / config
    if tenants:
        text = path.read_text()
        if config.startswith("cluster/"):
            path = copy / "cluster" / "cluster.conf"
            text = path.read_text()
        switched = text.replace('# include "', 'include "')
        assert switched != text, f"no commented tenants include in {path.name}"
        path.write_text(switched)
        path = copy / config
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(path)],
        capture_output=True,
        text=True,
        env=tenant_env(),
        timeout=10,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def cluster(tmp_path):
    cluster = NatsCluster(tmp_path / "cluster").start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("victim", ["stream-leader", "client-server"])
async def test_every_event_is_applied_once_when_a_node_dies_mid_traffic(
    database_url, cluster, victim
):
    """SIGKILL either the RAPPORT_GOALS stream leader (JetStream elects a new one from the two
    replicas left) or the node the pipeline's client is connected to (the client reconnects to
    another URL) while events are being appended, relayed and consumed."""
    async with cluster_pipeline(database_url, cluster.urls) as p:
        js = p.nc.jetstream()
        info = await js.stream_info("RAPPORT_GOALS")
        assert info.config.num_replicas == 3
        assert info.cluster is not None and info.cluster.leader is not None
        if victim == "stream-leader":
            doomed = cluster.node(info.cluster.leader)
        else:
            assert p.nc.connected_url is not None
            doomed = cluster.node_on_port(p.nc.connected_url.port)

        for i in range(EVENTS):
            if i == EVENTS // 2:
                # The flow is live end to end before the kill; the rest is appended at once,
                # while the relay publishes and the consumer applies behind it.
                assert await eventually(_consumer_applied_some(p))
                state_at_kill = (p.relay.published, p.consumer.applied)
                doomed.server.kill()
                killed_at = time.monotonic()
            await p.append_goal(goal(f"client-{i % CLIENTS}"))

        expected = {f"client-{c}": EVENTS // CLIENTS for c in range(CLIENTS)}

        async def all_applied() -> bool:
            return await p.counts() == expected

        await eventually(all_applied, timeout=40)
        recovery = time.monotonic() - killed_at

        async def drained() -> bool:  # the relay writes its cursor a moment after publishing
            async with p.engine.connect() as conn:
                return (await backlog(conn))[0] == 0

        await eventually(drained)
        async with p.engine.connect() as conn:
            processed, dead = [
                (await conn.execute(select(func.count()).select_from(table))).scalar()
                for table in (processed_table, dead_letters_table)
            ]
        stream = await js.stream_info("RAPPORT_GOALS")
        print(
            f"killed {doomed.name} ({victim}) at published/applied={state_at_kill}; "
            f"all applied {recovery:.1f}s later; new leader {stream.cluster.leader}"
        )
        assert (processed, dead) == (EVENTS, 0)  # each applied, none dead
        assert p.consumer.applied == EVENTS  # no event applied twice, even if delivered twice
        # Republished copies (after a lost ack) were dropped by the duplicate window, which
        # the new stream leader carries over: the stream holds every event exactly once.
        assert stream.state.messages == EVENTS


def _consumer_applied_some(p):
    async def probe() -> bool:
        return p.consumer.applied > 0

    return probe
