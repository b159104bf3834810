"""Fixtures of the sessions tests; the broker and database fixtures come from the root conftest."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sessions_support import GoalsProducer, RunningService, goals_producer, running_service

from rapport_devtools.natsserver import NatsServer


@pytest.fixture
async def service(
    database_url: str, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[RunningService]:
    async with running_service(database_url, nats_server.url, tmp_path / "data") as running:
        yield running


@pytest.fixture
async def goals(nats_server: NatsServer) -> AsyncIterator[GoalsProducer]:
    async with goals_producer(nats_server.url) as producer:
        yield producer
