"""Rapport's SQLite engine: writers take turns without blocking the event loop, and readers never
wait for writers."""

import asyncio
import sqlite3

from sqlalchemy import text

from rapport_shared.db import create_engine
from rapport_shared.testing import eventually


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
