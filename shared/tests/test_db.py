"""Rapport's engines. SQLite: writers take turns without blocking the event loop, and readers never
wait for writers. PostgreSQL: write transactions begun and ended on asyncpg commit or roll back
with what went through SQLAlchemy, their failures come out as SQLAlchemy's, and without a ping
per checkout the pool still recovers from a server that dropped its connections."""

import asyncio
import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from rapport_devtools.testing import eventually
from rapport_shared.messaging.outbox import backlog
from rapport_shared.persistence.db import create_engine


async def _engine_with_table(path):
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        await conn.execute(text("INSERT INTO t VALUES (1)"))
    return engine


async def test_a_writer_waits_for_another_process_lock_without_blocking_the_loop(tmp_path):
    engine = await _engine_with_table(tmp_path / "db.sqlite")
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:

        async def write():
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (2)"))

        writer = asyncio.create_task(write())
        ticks = 0
        for _ in range(20):  # the loop keeps running other work while the writer waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not writer.done()

        async with engine.connect() as conn:  # a read does not queue behind the lock
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1

        other.execute("COMMIT")
        await asyncio.wait_for(writer, 10)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 2
    finally:
        other.close()
        await engine.dispose()


async def test_writers_in_one_process_take_turns_and_all_commit(tmp_path):
    engine = await _engine_with_table(tmp_path / "db.sqlite")
    try:

        async def increment():
            async with engine.begin() as conn:
                value = (await conn.execute(text("SELECT max(x) FROM t"))).scalar()
                await asyncio.sleep(0)  # let the others try to get in between
                await conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": value + 1})

        await asyncio.gather(*(increment() for _ in range(20)))

        async def rows():
            async with engine.connect() as conn:
                return sorted((await conn.execute(text("SELECT x FROM t"))).scalars())

        # Serialized: each saw the one before, so no value was written twice.
        assert await eventually(rows) == list(range(1, 22))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_kind", ["postgres"])
@pytest.mark.parametrize("first", ["statement through sqlalchemy", "append on the driver"])
async def test_postgres_pool_recovers_after_the_server_dropped_every_connection(
    database_url, first
):
    from shared_tests_support import goal

    from rapport_shared.contracts import public_registry
    from rapport_shared.eventsourcing.eventstore import EventStore

    engine = await _store_engine(database_url)
    store = EventStore(public_registry())
    appended = 0
    try:

        async def one() -> int:
            nonlocal appended
            async with engine.begin() as conn:
                if first == "append on the driver":
                    appended += 1
                    await store.append(conn, f"goal-{appended}", 0, [goal()])
                await asyncio.sleep(0.05)  # hold it, so the pool opens several connections
                return (await conn.execute(text("SELECT 1"))).scalar_one()

        assert await asyncio.gather(*(one() for _ in range(4))) == [1, 1, 1, 1]
        assert engine.pool.checkedin() >= 2
        # As a server restart does: every connection of this pool is gone.
        admin = create_engine(database_url)
        async with admin.begin() as conn:
            dropped = await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert len(dropped.all()) >= 2
        await admin.dispose()

        failures = 0
        for _ in range(6):
            try:
                assert await one() == 1
            except DBAPIError as error:  # SQLAlchemy's, as from its own begin()
                assert error.connection_invalidated
                failures += 1
        # The first use of a dead connection fails and invalidates the whole pool: the other
        # dead connections are never handed out, every later transaction reconnects.
        assert failures <= 1, failures
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_kind", ["postgres"])
async def test_a_commit_that_fails_raises_sqlalchemy_error_and_leaves_nothing(database_url):
    # A deferred constraint is checked at COMMIT, which the engine sends on the driver.
    from sqlalchemy.exc import IntegrityError

    from rapport_shared.persistence.postgres_engine import postgres_driver

    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("CREATE TABLE d (x INTEGER UNIQUE DEFERRABLE INITIALLY DEFERRED)")
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                driver = await postgres_driver(conn)
                await driver.execute("INSERT INTO d VALUES (1), (1)")
                assert not conn.in_transaction()  # nothing went through SQLAlchemy
        async with engine.begin() as conn:  # the pool goes on
            await (await postgres_driver(conn)).execute("INSERT INTO d VALUES (2)")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT x FROM d"))).scalars().all() == [2]
    finally:
        await engine.dispose()


async def _store_engine(url):
    from sqlalchemy import MetaData

    from rapport_shared.persistence.schema import add_core_tables

    engine = create_engine(url)
    tables = MetaData()
    add_core_tables(tables)
    async with engine.begin() as conn:
        await conn.run_sync(tables.create_all)
        await conn.execute(text("CREATE TABLE projection (x INTEGER)"))
    return engine


async def _counts(engine) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        row = await conn.execute(
            text("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM projection)")
        )
        events, projection = row.one()
        waiting, _ = await backlog(conn)  # what the relay will publish: outbox rows or the log
        return events, waiting, projection


async def test_an_append_and_statements_through_sqlalchemy_commit_or_roll_back_together(
    database_url,
):
    # The append goes to the driver's connection, the projection row through SQLAlchemy: one
    # transaction all the same, whichever comes first.
    from shared_tests_support import goal

    from rapport_shared.contracts import public_registry
    from rapport_shared.eventsourcing.eventstore import EventStore

    engine = await _store_engine(database_url)
    store = EventStore(public_registry())
    try:
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await store.append(conn, "goal-1", 0, [goal()])
                await conn.execute(text("INSERT INTO projection VALUES (1)"))
                raise RuntimeError("the handler failed after both writes")
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO projection VALUES (1)"))
                await store.append(conn, "goal-1", 0, [goal()])
                raise RuntimeError("the handler failed after both writes")
        assert await _counts(engine) == (0, 0, 0)

        async with engine.begin() as conn:  # the next writer finds a clean connection
            await store.append(conn, "goal-1", 0, [goal()])
            await conn.execute(text("INSERT INTO projection VALUES (1)"))
        async with engine.begin() as conn:  # an append alone, nothing through SQLAlchemy
            await store.append(conn, "goal-2", 0, [goal()])
        assert await _counts(engine) == (2, 2, 1)
    finally:
        await engine.dispose()


async def test_a_writer_cancelled_mid_transaction_leaves_nothing_and_frees_the_lock(
    database_url,
):
    from shared_tests_support import goal

    from rapport_shared.contracts import public_registry
    from rapport_shared.eventsourcing.eventstore import EventStore

    engine = await _store_engine(database_url)
    store = EventStore(public_registry())
    inside = asyncio.Event()
    try:

        async def stuck_writer():
            async with engine.begin() as conn:
                await store.append(conn, "goal-1", 0, [goal()])
                inside.set()
                await asyncio.Event().wait()  # never set: cancelled here

        task = asyncio.create_task(stuck_writer())
        await asyncio.wait_for(inside.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _counts(engine) == (0, 0, 0)

        async with engine.begin() as conn:
            await store.append(conn, "goal-1", 0, [goal()])
        assert await _counts(engine) == (1, 1, 0)
        assert await _open_transactions_elsewhere(database_url) == 0
    finally:
        await engine.dispose()


async def _open_transactions_elsewhere(url: str) -> int:
    """Transactions left open on the database by connections other than this check's own."""
    if url.startswith("sqlite"):
        # Another process can take the write lock only if no transaction holds it.
        other = sqlite3.connect(url.split("///", 1)[1], isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return 1
        finally:
            other.close()
        return 0
    check = create_engine(url)
    try:
        async with check.connect() as conn:
            return (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                        " current_database() AND pid <> pg_backend_pid()"
                        " AND state LIKE 'idle in transaction%'"
                    )
                )
            ).scalar_one()
    finally:
        await check.dispose()


@pytest.mark.parametrize("database_kind", ["postgres"])
@pytest.mark.parametrize("pool_size", [20, 5])
async def test_postgres_pool_keeps_its_connections_under_more_writers_than_it_has(
    database_url, pool_size
):
    from sqlalchemy import event

    engine = create_engine(database_url, pool_size=pool_size)
    opened = 0

    def count(*_):
        nonlocal opened
        opened += 1

    event.listen(engine.sync_engine, "connect", count)
    try:

        async def writer():
            for _ in range(20):
                async with engine.begin() as conn:
                    await conn.execute(text("SELECT 1"))

        await asyncio.gather(*(writer() for _ in range(32)))
        # 32 writers share the pool's connections, each opened once; a pool that closed
        # connections on return under pressure would have reopened them again and again.
        assert opened <= pool_size, opened
    finally:
        await engine.dispose()


async def test_a_conflict_on_a_later_event_undoes_the_earlier_ones_and_the_transaction_goes_on(
    database_url,
):
    from shared_tests_support import goal

    from rapport_shared.contracts import public_registry
    from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict, EventStore

    engine = await _store_engine(database_url)
    store = EventStore(public_registry())
    try:
        async with engine.begin() as conn:  # version 2 of goal-1 is taken, version 1 is free
            await store.append(conn, "goal-0", 0, [goal()])
            await conn.execute(text("UPDATE events SET stream_id = 'goal-1', version = 2"))
        async with engine.begin() as conn:
            with pytest.raises(ConcurrencyConflict):
                await store.append(conn, "goal-1", 0, [goal(), goal()])
            await conn.execute(text("INSERT INTO projection VALUES (1)"))  # still usable
            await store.append(conn, "goal-2", 0, [goal(), goal()])
        async with engine.connect() as conn:
            versions = await conn.execute(
                text("SELECT stream_id, version FROM events ORDER BY stream_id, version")
            )
            assert [tuple(row) for row in versions] == [("goal-1", 2), ("goal-2", 1), ("goal-2", 2)]
        assert await _counts(engine) == (3, 3, 1)
    finally:
        await engine.dispose()


async def test_the_wal_is_checkpointed_in_a_thread_not_on_a_commit(tmp_path):
    from rapport_shared.persistence.db import SQLiteEngine, sqlite_driver

    database = tmp_path / "db.sqlite"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    assert isinstance(engine, SQLiteEngine)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x TEXT)"))
            # The write connection leaves checkpoints to the engine's thread.
            setting = sqlite_driver(conn).sqlite.execute("PRAGMA wal_autocheckpoint")
            assert setting.fetchone() == (0,)
        size_before = database.stat().st_size
        for n in range(engine.CHECKPOINT_EVERY):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 2000 + str(n)})
        await eventually(lambda: engine.checkpoints == 1)
        # The rows' pages went from the WAL into the database file.
        assert database.stat().st_size > size_before + 100 * 2000
    finally:
        await engine.dispose()
    reopened = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with reopened.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM t"))).scalar()
    finally:
        await reopened.dispose()
    assert count == engine.CHECKPOINT_EVERY


async def test_a_checkpoint_holds_the_write_turn_only_for_its_last_copy(tmp_path):
    # Copying the whole WAL back and syncing it took 3.6-4.6 ms in a steady stream of commits,
    # and each writer meanwhile waited; now writers go on during the first copy.
    import threading

    from rapport_shared.persistence.db import SQLiteEngine

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    assert isinstance(engine, SQLiteEngine)
    turn_held: list[bool] = []
    copying = threading.Event()
    copy_back = engine._checkpoint

    def checkpoint() -> None:  # in the worker thread
        turn_held.append(engine._writer.locked())
        copying.wait(10)
        copy_back()

    engine._checkpoint = checkpoint  # type: ignore[method-assign]
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x TEXT)"))
        for n in range(engine.CHECKPOINT_EVERY - 1):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": str(n)})
        await eventually(lambda: turn_held == [False])
        async with asyncio.timeout(5), engine.begin() as conn:  # while the first copy runs
            await conn.execute(text("INSERT INTO t VALUES ('during the copy')"))
        copying.set()
        await eventually(lambda: engine.checkpoints == 1)
        assert turn_held == [False, True]
    finally:
        copying.set()
        await engine.dispose()


async def test_the_wal_stays_small_under_a_steady_stream_of_writes(tmp_path):
    # A checkpoint that copies the WAL back while commits keep appending to it never catches
    # up, so SQLite never starts the WAL over and the file grows for as long as writes go on
    # (hundreds of MB in a minute of the bench). Rounds = how many checkpoints the writes cross.
    from rapport_shared.persistence.db import SQLiteEngine

    database = tmp_path / "db.sqlite"
    wal = tmp_path / "db.sqlite-wal"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    assert isinstance(engine, SQLiteEngine)
    rounds = 12
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x TEXT)"))
        for n in range(rounds * engine.CHECKPOINT_EVERY):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 2000 + str(n)})
            await asyncio.sleep(0)  # as a service does between commands: the loop runs
        written = rounds * engine.CHECKPOINT_EVERY * 2000
        assert engine.checkpoints >= rounds - 2
        # Started over after each checkpoint: about one round's pages (2.1 MB here), not every
        # round's (25 MB when the WAL was never started over).
        assert wal.stat().st_size < written / 2
    finally:
        await engine.dispose()
