"""Reading a stream back: SQLite's reads go to its own connection (skipping SQLAlchemy's
execution layer), PostgreSQL's through SQLAlchemy; both must give back what was appended, and a
read connection must see one snapshot for everything it reads."""

from shared_tests_support import engine_with, goal, test_metadata
from sqlalchemy import func, select

from rapport_shared.contracts import public_registry
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.persistence.schema import events_table
from rapport_shared.telemetry.context import EventMetadata


async def test_a_stream_loads_as_it_was_appended(database_url):
    store = EventStore(public_registry())
    metadata = EventMetadata(correlation_id="corr", causation_id="cause", actor="k1")
    async with engine_with(database_url, *test_metadata.sorted_tables) as engine:
        async with engine.begin() as conn:
            appended = await store.append(conn, "goal-1", 0, [goal("ana"), goal("ana")], metadata)
            await store.append(conn, "goal-2", 0, [goal("bo")])
        async with engine.begin() as conn:
            appended += await store.append(conn, "goal-1", 2, [goal("ana")])
            # inside the write transaction: its own appends are there
            assert await store.stream_version(conn, "goal-1") == 3
        async with engine.connect() as conn:
            loaded = await store.load(conn, "goal-1")
            assert await store.stream_version(conn, "goal-1") == 3
            assert await store.stream_version(conn, "goal-9") == 0
            assert await store.load(conn, "goal-9") == []
    assert loaded == appended  # positions, ids, versions, times, metadata and events alike
    assert [event.occurred_at.tzinfo is not None for event in loaded] == [True] * 3


async def test_a_read_connection_sees_one_snapshot(database_url):
    store = EventStore(public_registry())
    async with engine_with(database_url, *test_metadata.sorted_tables) as engine:
        async with engine.begin() as conn:
            await store.append(conn, "goal-1", 0, [goal()])
        async with engine.connect() as reader:
            assert len(await store.load(reader, "goal-1")) == 1
            async with engine.begin() as writer:  # commits while the reader is open
                await store.append(writer, "goal-1", 1, [goal()])
            count = select(func.count()).select_from(events_table)
            # The reader's later statements, direct or through SQLAlchemy, see its first snapshot
            # (PostgreSQL's default isolation gives each statement a fresh one: SQLite only).
            if engine.dialect.name == "sqlite":
                assert (await reader.execute(count)).scalar() == 1
                assert await store.stream_version(reader, "goal-1") == 1
        async with engine.connect() as reader:
            assert await store.stream_version(reader, "goal-1") == 2
            assert (await reader.execute(count)).scalar() == 2


async def test_several_streams_load_at_once_as_each_loads_alone(database_url):
    store = EventStore(public_registry())
    async with engine_with(database_url, *test_metadata.sorted_tables) as engine:
        async with engine.begin() as conn:
            await store.append(conn, "goal-1", 0, [goal("ana"), goal("ana"), goal("ana")])
            await store.append(conn, "goal-2", 0, [goal("bo")])
        async with engine.connect() as conn:
            together = await store.load_streams(conn, ["goal-2", "goal-1", "goal-9", "goal-1"])
            alone = {s: await store.load_events(conn, s) for s in ("goal-1", "goal-2", "goal-9")}
            assert await store.load_streams(conn, []) == {}
    assert together == alone
    assert [len(together[s]) for s in ("goal-1", "goal-2", "goal-9")] == [3, 1, 0]
