"""A three-node JetStream cluster on loopback (like deploy/nats/cluster/, on free ports with one
store directory per node): the broker tests and the chaos harness's node-loss fault use it."""

import json
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapport_devtools.natsserver import NatsServer, free_ports


@dataclass
class ClusterNode:
    name: str
    server: NatsServer
    route_port: int
    http_port: int

    @property
    def url(self) -> str:
        return self.server.url

    def monitor(self, path: str) -> dict[str, Any] | None:
        """GET a monitoring endpoint; None while the node is down or not ready."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}{path}", timeout=1
            ) as response:
                return dict(json.load(response))
        except (OSError, ValueError):
            return None


@dataclass
class NatsCluster:
    """Three nats-server processes forming the JetStream cluster `rapport`, like
    deploy/nats/cluster/ but on free loopback ports with one store directory per node."""

    root: Path
    nodes: list[ClusterNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        ports = free_ports(9)  # each node's route, monitoring and client ports
        route_ports, http_ports, client_ports = ports[:3], ports[3:6], ports[6:]
        # Every node lists every route, itself included, as the shipped cluster.conf does.
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in route_ports)
        for index, route_port in enumerate(route_ports, start=1):
            name = f"nats-{index}"
            node_dir = self.root / name
            node_dir.mkdir(parents=True, exist_ok=True)
            http_port = http_ports[index - 1]
            config = node_dir / "node.conf"
            config.write_text(
                f"server_name: {name}\n"
                f"http: 127.0.0.1:{http_port}\n"
                "cluster {\n"
                "  name: rapport\n"
                f"  listen: 127.0.0.1:{route_port}\n"
                f"  routes: [{routes}]\n"
                "}\n"
            )
            # NatsServer adds -a/-p/-js/-sd: client port and store directory per node.
            server = NatsServer(node_dir / "store", client_ports[index - 1], config_file=config)
            self.nodes.append(ClusterNode(name, server, route_port, http_port))

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> ClusterNode:
        return next(node for node in self.nodes if node.name == name)

    def node_on_port(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.server.port == port)

    def start(self, timeout: float = 20.0) -> "NatsCluster":
        try:
            for node in self.nodes:
                node.server.start()
            self.wait_for_meta_leader(timeout)
        except BaseException:
            # A node that could not start (e.g. a free port taken in between) must not leave
            # the others running: the caller never gets a cluster to stop.
            self.stop()
            raise
        return self

    def wait_for_meta_leader(self, timeout: float) -> str:
        """Block until every live node is healthy (/healthz: JetStream and its meta group current)
        and all agree on the meta leader."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            live = [n for n in self.nodes if n.server.process is not None]
            reports = [n.monitor("/jsz") for n in live]
            healthy = all(n.monitor("/healthz") is not None for n in live)
            leaders = {str(r.get("meta_cluster", {}).get("leader", "")) for r in reports if r}
            last = (healthy, leaders)
            if healthy and None not in reports and len(leaders) == 1 and "" not in leaders:
                return leaders.pop()
            time.sleep(0.1)
        raise TimeoutError(f"no JetStream meta leader within {timeout}s: {last!r}")

    def stop(self) -> None:
        for node in self.nodes:
            node.server.stop()
