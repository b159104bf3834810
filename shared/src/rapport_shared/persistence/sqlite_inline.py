"""An aiosqlite-shaped SQLite driver that runs each call on the event loop's own thread.

Why: aiosqlite runs every call (cursor, execute, fetch, commit) in a thread of its own and hands
the result back through the event loop: an append made about a dozen such round trips, and each
costs a thread switch, which on a busy machine means waiting for a time slice. In WAL mode with
synchronous=NORMAL a commit does not wait for the disk, so the calls themselves take
microseconds: running them inline is cheaper than handing them off.

What must not happen is waiting inline: SQLite's busy handler would block the whole event loop
while another connection holds the write lock. So the busy timeout is zero, and a statement that
finds the database locked is retried here with asyncio sleeps (up to the same 30 s the threaded
driver waited). Within one process, rapport_shared.persistence.db's writer lock already makes
writers take turns, so this only happens against other processes.
"""

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BUSY_WAIT_SECONDS = 30.0
_FIRST_RETRY_SECONDS = 0.001
_LONGEST_RETRY_SECONDS = 0.05


def _locked(error: sqlite3.OperationalError) -> bool:
    message = str(error)
    return "database is locked" in message or "database table is locked" in message


async def _retrying(call: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    delay = _FIRST_RETRY_SECONDS
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _locked(error) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, _LONGEST_RETRY_SECONDS)


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> "Cursor":
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        await _retrying(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> "Cursor":
        rows = list(parameters)  # a retry must see every row again
        await _retrying(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_: Any) -> None:
        return None


class Connection:
    """The parts of aiosqlite.Connection that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._writing = False

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for the event store's appends (see db.SQLiteEngine)."""
        return self._conn

    @property
    def in_write_transaction(self) -> bool:
        """Inside a transaction begun IMMEDIATE by begin_write(): this connection holds the
        database's write lock until end_write()."""
        return self._writing and self._conn.in_transaction

    async def begin_write(self) -> None:
        await _retrying(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        self._writing = True

    async def end_write(self, commit: bool) -> None:
        """Commit or roll back what begin_write() began, if it is still open."""
        self._writing = False
        if not self._conn.in_transaction:
            return
        if commit:
            await _retrying(self._conn.commit)
        else:
            self._conn.rollback()

    def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await _retrying(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def creator(database: str) -> Callable[[], Any]:
    """An async_creator for create_async_engine(\"sqlite+aiosqlite://...\")."""

    async def connect() -> Connection:
        # isolation_level=None: transactions are begun explicitly (see
        # rapport_shared.persistence.db).
        connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=0")  # waiting happens in _retrying, not inline
        return Connection(connection)

    return connect
