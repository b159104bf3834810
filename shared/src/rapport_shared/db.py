"""Database engines: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) by URL."""

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so SAVEPOINTs work and every
        # transaction starts with BEGIN IMMEDIATE (below): a deferred BEGIN that later upgrades to
        # a write lock can fail with SQLITE_BUSY at once, whatever the busy timeout.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted rows (an erased client's, a destroyed key) are overwritten with zeros, not left
        # readable in free pages; scrub() then clears the copies still in the WAL.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def scrub(engine: AsyncEngine, attempts: int = 20) -> bool:
    """After deleting data that must not stay readable (an erasure): on SQLite, copy the WAL
    into the database (where secure_delete zeroed the deleted cells) and truncate it to nothing,
    since the WAL still holds the pages as they were before. A reader holding an older snapshot
    blocks the truncation, so it is retried a few times; True once the WAL is empty, False if a
    reader outlasted the attempts (the next checkpoint then clears it). PostgreSQL keeps dead
    tuples until VACUUM reclaims them: that is the operator's schedule (docs/privacy.md)."""
    if not is_sqlite(engine):
        return True
    for attempt in range(attempts):
        if await _checkpoint_truncate(engine):
            return True
        await asyncio.sleep(0.05 * (attempt + 1))
    return False


async def _checkpoint_truncate(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        # On the driver's connection, outside any transaction: a checkpoint cannot run inside one.
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _log_frames, _checkpointed = await cursor.fetchone()
        await cursor.close()
    return bool(busy == 0)
