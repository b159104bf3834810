"""One fault's world: a broker (one nats-server, or the three-node cluster), an SMTP sink, the
three services as processes on fresh databases (SQLite; goals on a private PostgreSQL when
asked), all in a scratch directory."""

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from chaos.http import AUTH_SECRET
from chaos.postgres import PrivatePostgres
from rapport_devtools.localsuite import ServiceProcess, service_processes
from rapport_devtools.natscluster import NatsCluster
from rapport_devtools.natsserver import NatsServer, free_port
from rapport_devtools.testing import SmtpCollector


@dataclass
class Suite:
    cluster: bool = False  # three NATS nodes, streams with three replicas
    goals_on_postgres: bool = False  # goals' database on a private PostgreSQL cluster
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rapport-chaos-")))
    nats: NatsServer | None = None
    nats_cluster: NatsCluster | None = None
    postgres: PrivatePostgres | None = None
    smtp: SmtpCollector | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)

    @property
    def nats_url(self) -> str:
        if self.nats_cluster is not None:
            return ",".join(self.nats_cluster.urls)
        assert self.nats is not None
        return self.nats.url

    @property
    def urls(self) -> dict[str, str]:
        return {name: process.url for name, process in self.processes.items()}

    def start(self) -> "Suite":
        data = self.root / "data"
        env = {
            "RAPPORT_DATA_DIR": str(data),
            "RAPPORT_LOG_FORMAT": "json",
            # One JSON line per request and per applied event would cost the services a good
            # share of the two cores; warnings and errors are what a chaos run needs to read.
            "RAPPORT_LOG_LEVEL": "warning",
            # The harness's calls carry tokens signed with this run's secret (chaos.http).
            "RAPPORT_AUTH_SECRET": AUTH_SECRET,
        }
        for name in ("SESSIONS", "GOALS", "NOTIFICATIONS"):
            env[f"RAPPORT_{name}_RELAY_POLL_INTERVAL_SECONDS"] = "0.2"
        # Assigned before starting, so stop() also ends a broker that failed to come up.
        if self.cluster:
            self.nats_cluster = NatsCluster(self.root / "nats")
            self.nats_cluster.start()
            env["RAPPORT_STREAM_REPLICAS"] = "3"
        else:
            self.nats = NatsServer(self.root / "nats")
            self.nats.start()
        env["RAPPORT_NATS_URL"] = self.nats_url
        self.smtp = SmtpCollector()
        self.smtp.start()
        env["RAPPORT_NOTIFICATIONS_SMTP_HOST"] = "127.0.0.1"
        env["RAPPORT_NOTIFICATIONS_SMTP_PORT"] = str(self.smtp.port)
        self.database_urls = {
            name: f"sqlite+aiosqlite:///{data}/{name}.db"
            for name in ("sessions", "goals", "notifications")
        }
        if self.goals_on_postgres:
            self.postgres = PrivatePostgres().init()
            self.postgres.start()
            self.database_urls["goals"] = self.postgres.create_database("goals")
            env["RAPPORT_GOALS_DATABASE_URL"] = self.database_urls["goals"]
        ports = {name: free_port() for name in ("sessions", "goals", "notifications")}
        self.processes = service_processes(env, self.root / "logs", ports)
        for process in self.processes.values():
            process.start()
        for process in self.processes.values():
            process.wait_ready(timeout=60)
        return self

    async def restart(self, service: str) -> None:
        """Start a killed service again and wait until it is ready (without blocking the load)."""
        process = self.processes[service]
        process.start()
        await asyncio.to_thread(process.wait_ready, 60)

    def stop(self, keep: bool = False) -> None:
        for process in self.processes.values():
            process.stop()
        if self.smtp is not None:
            self.smtp.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.nats_cluster is not None:
            self.nats_cluster.stop()
        if self.postgres is not None:
            self.postgres.destroy()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)
