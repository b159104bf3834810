"""The authorization dependency's reads (rapport_shared.security.access.Reads), against a real
database: a stream's owner is read once and then remembered, per engine; a stream not found is
looked up again every time, so one created meanwhile is found."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from shared_tests_support import engine_with, goal, test_metadata
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from rapport_shared.contracts import public_registry
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.persistence.db import create_engine
from rapport_shared.security.access import Reads, remember_owner


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with engine_with(database_url, *test_metadata.sorted_tables) as engine:
        yield engine


def counted_selects(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return statements


async def owner(engine: AsyncEngine, stream_id: str) -> tuple[str, str | None] | None:
    reads = Reads(engine)
    try:
        return await reads.stream_owner(stream_id)
    finally:
        await reads.close()


async def test_an_owner_is_read_once_and_an_absence_every_time(engine: AsyncEngine) -> None:
    selects = counted_selects(engine)
    assert await owner(engine, "goal-1") is None
    assert await owner(engine, "goal-1") is None
    assert len(selects) == 2
    async with engine.begin() as conn:
        await EventStore(public_registry()).append(conn, "goal-1", 0, [goal("alice")])
    for _ in range(3):
        assert await owner(engine, "goal-1") == ("northside", "alice")
    assert len(selects) == 3


async def test_owners_are_remembered_per_engine(engine: AsyncEngine, database_url: str) -> None:
    async with engine.begin() as conn:
        await EventStore(public_registry()).append(conn, "goal-2", 0, [goal("bob")])
    assert await owner(engine, "goal-2") == ("northside", "bob")
    other = create_engine(database_url)  # another engine on the same database reads again
    try:
        selects = counted_selects(other)
        assert await owner(other, "goal-2") == ("northside", "bob")
        assert len(selects) == 1
    finally:
        await other.dispose()


async def test_an_owner_remembered_by_its_creator_is_not_read(engine: AsyncEngine) -> None:
    selects = counted_selects(engine)
    remember_owner(engine, "goal-3", ("northside", "carol"))
    assert await owner(engine, "goal-3") == ("northside", "carol")
    assert selects == []


async def test_the_owner_read_is_the_first_events_clinic_and_client(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        store = EventStore(public_registry())
        await store.append(conn, "goal-4", 0, [goal("dana")])
        await store.append(conn, "goal-4", 1, [goal("erin")])  # only the first event counts
    assert await owner(engine, "goal-4") == ("northside", "dana")
