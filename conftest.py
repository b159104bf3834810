"""Fixtures for every test in the suite: a real nats-server on a free port with its own store
directory, and a real database per test (SQLite always; PostgreSQL when
RAPPORT_TEST_POSTGRES_URL is set, or from testcontainers when Docker is available)."""

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import create_postgres_database, drop_postgres_database

POSTGRES_ENV = "RAPPORT_TEST_POSTGRES_URL"


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    if os.environ.get(POSTGRES_ENV):
        yield os.environ[POSTGRES_ENV]
        return
    if not _docker_available():
        pytest.skip(f"PostgreSQL: {POSTGRES_ENV} is not set and no Docker engine is available")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
        yield container.get_connection_url()


@pytest.fixture(params=["sqlite", "postgres"])
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(
    database_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    if database_kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/test.db"
        return
    server_url = request.getfixturevalue("postgres_server_url")
    url = await create_postgres_database(server_url)
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()
