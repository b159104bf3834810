"""Database engines: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) by URL."""

import asyncio
import contextlib
import functools
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic_core
import structlog
from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from rapport_shared.persistence import sqlite_inline
from rapport_shared.persistence.postgres_engine import PostgresEngine

log = structlog.get_logger(__name__)

# How long a writer waits for this process's other writers; SQLite's busy timeout for others.
WRITER_WAIT_SECONDS = 30


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def writers_take_turns(bind: AsyncConnection | AsyncEngine) -> bool:
    """Whether write transactions run one at a time, each holding the database from its start
    (SQLite: BEGIN IMMEDIATE, see SQLiteEngine), so what a writer read stays true until it
    commits and commits land in the order positions were given. Not on PostgreSQL: writers run
    side by side, and each statement of a READ COMMITTED transaction sees what others
    committed meanwhile."""
    return bind.dialect.name == "sqlite"


class SQLiteEngine(AsyncEngine):
    """SQLite has one writer at a time. Left to SQLite, writers that find the lock taken sleep
    in its busy handler (1, 2, 5, ... 100 ms between tries) long after the lock is free again,
    and under load requests waited seconds for it. So within the process, begin() (a write
    transaction) queues on an asyncio lock and then takes the write lock at once with BEGIN
    IMMEDIATE, while connect() (reads) begins a deferred transaction that never waits for
    writers (WAL). Other processes on the same file still meet the busy timeout.

    Since writers take turns anyway, every write transaction runs on one connection kept open
    for them, begun and ended on the driver itself: a pool checkout and return, and
    SQLAlchemy's transaction around them, cost more than the two inserts of an append. A
    statement executed through SQLAlchemy inside begin() joins that transaction (the "begin"
    listener below issues nothing then), and begin() ends SQLAlchemy's side too.

    SQLite checkpoints its WAL into the database file on the commit that passes 1,000 pages in
    the WAL, on the committing connection: that commit, on the event loop's thread, then waits
    for the copy and an fsync (5-9 ms in a serial append loop, every 400 appends), and every
    request in the process waits with it. The write connection does not checkpoint; every
    CHECKPOINT_EVERY commits a PASSIVE checkpoint runs on a connection of its own in a worker
    thread (sqlite3 lets the event loop go on meanwhile), which never waits for readers. SQLite
    starts the WAL over (instead of growing the file) only once a checkpoint has copied all of
    it back, and one racing commits that keep appending never gets there (the WAL grew by
    hundreds of MB a minute under load). So the checkpoint copies twice: first while writers go
    on, then, holding this process's write turn, what they appended meanwhile. Writers wait
    for that second, small copy only (about 2 ms against 4 for the whole WAL, in a steady
    stream of commits); reads and the rest of the event loop never wait. The same synchronous
    mode, and about as often: what an OS crash can lose stays what it was."""

    CHECKPOINT_EVERY = 250

    def __init__(self, sync_engine: Any) -> None:
        super().__init__(sync_engine)
        self._writer = asyncio.Lock()
        self._write_connection: AsyncConnection | None = None
        self._commits = 0
        self._checkpointing: asyncio.Task[None] | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self.checkpoints = 0
        self._scrub_after_commit = False

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        if self._writer.locked():  # the deadline's timer only when there is a wait
            async with asyncio.timeout(WRITER_WAIT_SECONDS):
                await self._writer.acquire()
        else:
            await self._writer.acquire()
        try:
            conn = await self._writing_connection()
            driver = sqlite_driver(conn)
            await driver.begin_write()
            try:
                yield conn
            except BaseException:
                self._scrub_after_commit = False  # nothing was erased after all
                await self._end_write(conn, driver, commit=False)
                raise
            await self._end_write(conn, driver, commit=True)
            # Taken in the write turn: the next writer's erasure is its own to scrub after.
            erased, self._scrub_after_commit = self._scrub_after_commit, False
        finally:
            self._writer.release()
        self._commits += 1
        if erased:
            # An erasure committed: its old pages leave the WAL before its caller goes on (the
            # API answers, the consumer acks), out of the write turn so writers never wait.
            if not await scrub(self):
                log.warning("the WAL still holds erased pages; the next checkpoint clears them")
        elif self._commits % self.CHECKPOINT_EVERY == 0:
            self._checkpoint_soon()

    def scrub_after_commit(self) -> None:
        self._scrub_after_commit = True

    async def _writing_connection(self) -> AsyncConnection:
        conn = self._write_connection
        if conn is None or conn.closed or conn.invalidated:
            conn = self._write_connection = await self.connect()
            if self.url.database not in (None, "", ":memory:"):
                sqlite_driver(conn).sqlite.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _checkpoint_soon(self) -> None:
        if self.url.database in (None, "", ":memory:"):
            return
        if self._checkpointing is None or self._checkpointing.done():
            self._checkpointing = asyncio.create_task(self._checkpoint_in_two_copies())

    async def _checkpoint_in_two_copies(self) -> None:
        loop = asyncio.get_running_loop()
        # Most of the WAL is copied back while writers go on; then, in a write turn (no commit
        # appends meanwhile), what they appended: the wait is for that little copy only.
        await loop.run_in_executor(None, self._checkpoint)
        async with self._writer:
            await loop.run_in_executor(None, self._checkpoint)
        self.checkpoints += 1

    def _checkpoint(self) -> None:
        """In a worker thread, one at a time (see _checkpoint_soon)."""
        try:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    str(self.url.database), isolation_level=None, check_same_thread=False
                )
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:  # the next one, or SQLite's own on close, makes up for it
            log.warning("wal checkpoint failed", error=repr(error))

    async def _end_write(
        self, conn: AsyncConnection, driver: sqlite_inline.Connection, commit: bool
    ) -> None:
        try:
            if conn.in_transaction():  # SQLAlchemy's own, begun by a statement through it
                await (conn.commit() if commit else conn.rollback())
            await driver.end_write(commit)
        except BaseException:
            # In an unknown state (a failed commit, a cancellation while waiting to commit):
            # closing the connection rolls back whatever is open; the next writer opens another.
            self._write_connection = None
            with contextlib.suppress(Exception):
                await conn.invalidate()
            raise

    async def dispose(self, close: bool = True) -> None:
        conn, self._write_connection = self._write_connection, None
        if conn is not None:
            await conn.close()
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        await super().dispose(close)


def sqlite_driver(conn: AsyncConnection) -> sqlite_inline.Connection:
    """The inline driver's connection under an SQLAlchemy connection of a SQLite engine."""
    sync = conn.sync_connection
    assert sync is not None, "a started connection"
    driver = sync.connection.driver_connection
    assert isinstance(driver, sqlite_inline.Connection)
    return driver


def sqlite_writing(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The sqlite3 connection under conn when conn is in its engine's write transaction (see
    SQLiteEngine.begin): statements sent to it directly join that transaction and skip
    SQLAlchemy's execution layer, which costs several times what SQLite does for a small
    statement. None on PostgreSQL, or outside a write transaction (the caller then goes
    through SQLAlchemy, which begins a transaction if none is open)."""
    if conn.dialect.name != "sqlite":
        return None
    driver = sqlite_driver(conn)
    return driver.sqlite if driver.in_write_transaction else None


def sqlite_reading(conn: AsyncConnection) -> sqlite3.Connection:
    """The sqlite3 connection under conn, inside a transaction: begin()'s write transaction, or
    a read's, begun here as conn's first statement through SQLAlchemy would begin it (one
    snapshot for all conn reads). Queries sent to it directly skip SQLAlchemy's execution
    layer; the transaction ends as conn's does (its commit, rollback, or the pool's reset)."""
    return _in_transaction(sqlite_driver(conn).sqlite)


def sqlite_time(stored: str) -> datetime:
    """A time column as read from SQLite's own connection: SQLAlchemy stores it in UTC, as text
    without the offset."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _in_transaction(connection: sqlite3.Connection) -> sqlite3.Connection:
    if not connection.in_transaction:
        connection.execute("BEGIN")
    return connection


def to_json(value: Any) -> str:
    """A JSON column's stored text, as the engines write it."""
    return pydantic_core.to_json(value).decode()


# JSON columns (event data, metadata, projections' nested terms) through pydantic-core's encoder
# and parser instead of the json module's: compact and 3-4 times faster per value. The json
# module's dumps was a third of a rebuild's writes and part of every append.
_JSON = {"json_serializer": to_json, "json_deserializer": pydantic_core.from_json}


def owner_only_database(path: Path) -> None:
    """The database file made readable by its owner only, before SQLite opens it: SQLite gives
    its -wal and -shm files the database file's permissions, whatever the process umask. A
    directory made here is the owner's only too; an existing one is left as it is (it may be
    a shared parent the operator chose)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    # A database made before this (or copied in) is narrowed too, with its WAL and index.
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            os.chmod(file, 0o600)


def create_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    """pool_size: PostgreSQL connections at most, all kept once opened (SQLite: see below)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pool_pre_ping: it costs a round trip per transaction (13% of an append). After a
        # server restart, the first use of a dead connection (a write transaction's BEGIN, a
        # read's first statement) fails as a disconnect and SQLAlchemy then discards every
        # pooled connection opened before it, so one attempt fails (and is retried by the
        # consumer, the relay, or the client) and the rest reconnect.
        # Every connection kept once opened, no overflow: with 10 kept and 10 of overflow, more
        # than 10 transactions at a time made the pool close and reopen connections all along
        # (120 new connections in 2 s of 32 writers, each a TCP, TLS-probe and login handshake).
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, **_JSON)
        if parsed.get_driver_name() != "asyncpg":
            return engine
        return PostgresEngine(engine.sync_engine)  # write transactions on asyncpg itself

    database = parsed.database or ":memory:"
    if database != ":memory:":
        owner_only_database(Path(database))
    # SQLAlchemy's aiosqlite dialect, on a driver that runs SQLite on the loop's thread (see
    # sqlite_inline: it also sets isolation_level=None, taking transaction control away from the
    # sqlite3 module so SAVEPOINTs work and write transactions begin IMMEDIATE, below).
    engine = SQLiteEngine(
        create_async_engine(url, async_creator=sqlite_inline.creator(database), **_JSON).sync_engine
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted rows (an erased client's, a destroyed key) are overwritten with zeros, not left
        # readable in free pages; scrub() then clears the copies still in the WAL.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # Inside begin()'s write transaction, or a read's begun by sqlite_reading(), already:
        # the statement joins it. Otherwise a read: a deferred transaction (one snapshot for all
        # its statements), begun on the driver (through SQLAlchemy's execution layer it cost
        # more than a small query).
        _in_transaction(connection.connection.driver_connection.sqlite)

    return engine


def erase_on_commit(conn: AsyncConnection) -> None:
    """Part of every erasure, inside its write transaction: once it commits, the database
    files no longer hold what it deleted or overwrote (scrub, run by SQLiteEngine.begin before
    it returns). On PostgreSQL nothing is done: its write-ahead log is the server's own, in
    the server's data directory (not a file of the suite's), recycled by the server's
    checkpoints and readable only by its owner; dead row versions are reclaimed by
    (auto)vacuum, the operator's schedule (docs/privacy.md)."""
    engine = conn.engine
    if isinstance(engine, SQLiteEngine):
        engine.scrub_after_commit()


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


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled once for a dialect, with per parameter (in the SQL's order) the
    bound type's own conversion to what the driver takes. Executed with
    conn.exec_driver_sql(sql, parameters(row)), it skips SQLAlchemy rebuilding the parameters
    through its compiler on every execution: a third of a rebuild's writes, a fifth of an
    append."""

    sql: str
    converters: tuple[tuple[str, Callable[[Any], Any]], ...]

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple([convert(row[name]) for name, convert in self.converters])


@functools.cache
def driver_statement(
    statement: Any, names: tuple[str, ...], dialect: Dialect, encoded: frozenset[str] = frozenset()
) -> DriverStatement:
    """statement (built once by the caller) for rows with exactly these keys; the values named
    in `encoded` come already in their stored form (JSON columns given their JSON text)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    if compiled.positiontup is None:  # pragma: no cover - both our drivers are positional
        raise ValueError(f"{dialect.name}: named parameters are not supported here")
    converters = []
    for name in compiled.positiontup:
        bound_type = compiled.binds[name].type.dialect_impl(dialect)
        convert = None if name in encoded else bound_type.bind_processor(dialect)
        converters.append((name, convert or _same))
    return DriverStatement(str(compiled), tuple(converters))
