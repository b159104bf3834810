"""Fixtures for the cross-service tests: the three services as real processes."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from suite_env import suite_env

from rapport_devtools.localsuite import ServiceProcess, service_processes
from rapport_devtools.natsserver import NatsServer, free_port
from rapport_devtools.testing import SmtpCollector


@pytest.fixture
def smtp() -> Iterator[SmtpCollector]:
    collector = SmtpCollector().start()
    try:
        yield collector
    finally:
        collector.stop()


@pytest.fixture
def suite_processes(tmp_path: Path, nats_server: NatsServer, smtp: SmtpCollector):
    processes = service_processes(
        suite_env(tmp_path, nats_server.url, smtp),
        tmp_path / "logs",
        ports={name: free_port() for name in ("sessions", "goals", "notifications")},
    )
    try:
        yield processes
    finally:
        for process in processes.values():
            process.stop()


@pytest.fixture
def running_suite(suite_processes: dict[str, ServiceProcess]) -> dict[str, ServiceProcess]:
    for process in suite_processes.values():
        process.start()
    for process in suite_processes.values():
        process.wait_ready()
    return suite_processes
