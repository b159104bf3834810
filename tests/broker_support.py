"""Brokers for the broker tests: the shipped NATS configs, a local three-node JetStream cluster
on loopback, and the shared library's event pipeline pointed at that cluster."""

import contextlib
from pathlib import Path

from shared_tests_support import Pipeline, running_pipeline

from rapport_devtools.natscluster import ClusterNode, NatsCluster

__all__ = ["ClusterNode", "NatsCluster", "cluster_pipeline", "tenant_env"]

DEPLOY_NATS = Path(__file__).resolve().parents[1] / "deploy" / "nats"
TENANTS_CONF = DEPLOY_NATS / "tenants.conf"

TENANT_USERS = ("sessions", "goals", "notifications", "northside", "riverside", "admin")


def tenant_password(user: str) -> str:
    return f"{user}-test-secret"


def tenant_env() -> dict[str, str]:
    """The environment tenants.conf reads its passwords from."""
    return {f"RAPPORT_NATS_{u.upper()}_PASSWORD": tenant_password(u) for u in TENANT_USERS}


class ErrorLog:
    """Keeps what the server reported through nats-py's error_cb (pass `record`). Permission
    violations arrive there, lower-cased by the client:
    'nats: permissions violation for subscription to "..."'."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def record(self, error: Exception) -> None:
        self.messages.append(str(error))

    async def reported(self, fragment: str) -> bool:
        return any(fragment.lower() in m for m in self.messages)


# --- the shared pipeline against the cluster -------------------------------------------------


def cluster_pipeline(
    database_url: str, urls: list[str], *, replicas: int = 3, ack_wait_seconds: float = 30.0
) -> contextlib.AbstractAsyncContextManager[Pipeline]:
    """The shared pipeline connected to every node (so it can reconnect while any one node is
    down), on a stream with three replicas."""
    return running_pipeline(
        database_url, ",".join(urls), replicas=replicas, ack_wait_seconds=ack_wait_seconds
    )
