"""Fixtures for the cross-service tests: the three services as real processes.

running_suite gives a test a suite of its own. shared_suite is one suite (with its own
nats-server, SMTP server and data directory) for every test that makes its own ids and looks
only at what it made, in whichever module: starting the three services is most of such a
test's time. A test that stops a service, or counts what the whole suite holds, takes
running_suite."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from suite_env import suite_env

from rapport_devtools.localsuite import ServiceProcess, service_processes
from rapport_devtools.natsserver import NatsServer, free_port
from rapport_devtools.testing import SmtpCollector


@contextmanager
def _smtp_collector() -> Iterator[SmtpCollector]:
    collector = SmtpCollector().start()
    try:
        yield collector
    finally:
        collector.stop()


@contextmanager
def _suite_processes(
    directory: Path, nats_url: str, smtp: SmtpCollector
) -> Iterator[dict[str, ServiceProcess]]:
    """The three services, configured for directory, not started; stopped afterwards."""
    processes = service_processes(
        suite_env(directory, nats_url, smtp),
        directory / "logs",
        ports={name: free_port() for name in ("sessions", "goals", "notifications")},
    )
    try:
        yield processes
    finally:
        for process in processes.values():
            process.stop()


def _started(processes: dict[str, ServiceProcess]) -> dict[str, ServiceProcess]:
    # All three start together; each is then waited for.
    for process in processes.values():
        process.start()
    for process in processes.values():
        process.wait_ready()
    return processes


@pytest.fixture
def smtp() -> Iterator[SmtpCollector]:
    with _smtp_collector() as collector:
        yield collector


@pytest.fixture
def suite_processes(
    tmp_path: Path, nats_server: NatsServer, smtp: SmtpCollector
) -> Iterator[dict[str, ServiceProcess]]:
    with _suite_processes(tmp_path, nats_server.url, smtp) as processes:
        yield processes


@pytest.fixture
def running_suite(suite_processes: dict[str, ServiceProcess]) -> dict[str, ServiceProcess]:
    return _started(suite_processes)


@pytest.fixture(scope="session")
def shared_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    """One running suite for the tests that can share it (see this module's docstring)."""
    directory = tmp_path_factory.mktemp("shared-suite")
    nats_server = NatsServer(directory / "nats").start()
    try:
        with (
            _smtp_collector() as collector,
            _suite_processes(directory, nats_server.url, collector) as processes,
        ):
            yield _started(processes)
    finally:
        nats_server.stop()
