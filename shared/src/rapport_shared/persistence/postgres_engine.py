"""The PostgreSQL engine (asyncpg): write transactions begun and ended on the driver.

SQLAlchemy's own begin() wraps the pooled connection in a transaction object of its own and
sends the BEGIN and the COMMIT through its execution layer, each in a greenlet of its own: with
32 writers appending, that was about a sixth of the client's CPU per append (60-80 us of
400-500), and the client's CPU is what limits them. Here begin() checks out a connection as
connect() does and sends BEGIN and COMMIT (or ROLLBACK) to asyncpg itself. Statements through
SQLAlchemy inside it join that transaction (SQLAlchemy's asyncpg adapter begins nothing when
one is open), and when one has run, SQLAlchemy's side is ended with it, as the SQLite engine's
begin() does.

A failure of BEGIN, COMMIT or ROLLBACK on the driver is judged as SQLAlchemy judges a failure of
its own: on a disconnect (a server restart) the connection and every pooled one opened before it
are invalidated, and the caller gets SQLAlchemy's DBAPIError, as it would from its begin(). The
connection is discarded after any such failure (its state is unknown), and after a cancellation
while one was under way.

What is reached through public API: the asyncpg connection (the pool entry's driver_connection)
and SQLAlchemy's adapter of it (its dbapi_connection). What is not, because SQLAlchemy 2.1 offers
none (the pinned version keeps these as they are; the PostgreSQL tests of the engine and the
event store fail if that changes):
- beginning a transaction its adapter knows of (_start_transaction, _transaction, and the
  adapter's _execute_mutex while doing it): PEP 249 has no begin(), the adapter begins lazily
  with the first statement it executes, and a BEGIN sent to asyncpg behind its back makes its
  own next BEGIN fail. Running the adapter in AUTOCOMMIT would make it begin nothing, but then
  SQLAlchemy's own commits, rollbacks and the pool's reset on return would end nothing either,
  for every connection of the engine, reads included.
- ending it in the same way (_call_and_discard): the adapter's public commit() and rollback()
  run on SQLAlchemy's greenlet bridge, a run_sync each, which is the cost this engine removes.
- a failure judged as SQLAlchemy judges one (the adapter's _handle_exception turning asyncpg's
  error into its DBAPI error, Connection._handle_dbapi_exception invalidating on a disconnect,
  the pool's older connections with it): the public Connection.invalidate() reaches only the one
  connection, and the public path to that judgement is executing through SQLAlchemy."""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class PostgresEngine(AsyncEngine):
    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self.connect() as conn:
            adapter = _adapter(conn)
            # At once, not with the first statement as SQLAlchemy does: a dead connection fails
            # here, the same way whatever the block runs first (a round trip more only for a
            # block that runs nothing).
            await _on_driver(conn, adapter._start_transaction)
            try:
                yield conn
            except BaseException:
                await _end(conn, adapter, commit=False)
                raise
            await _end(conn, adapter, commit=True)


async def postgres_driver(conn: AsyncConnection) -> Any | None:
    """The asyncpg connection under conn, inside conn's transaction: statements run on it
    directly join that transaction. None when conn is in none (a read before its first
    statement), or not on asyncpg: the caller then goes through SQLAlchemy, which begins one.
    A transaction begun on SQLAlchemy's side only (its adapter sends the BEGIN with the first
    statement) is begun here if nothing has run yet."""
    if conn.dialect.driver != "asyncpg":
        return None
    adapter = _adapter(conn)
    if adapter._transaction is None:
        if not conn.in_transaction():
            return None
        async with adapter._execute_mutex:
            if adapter._transaction is None:
                await adapter._start_transaction()
    return _sync(conn).connection.driver_connection


def _sync(conn: AsyncConnection) -> Connection:
    sync = conn.sync_connection
    assert sync is not None, "a started connection"
    return sync


def _adapter(conn: AsyncConnection) -> Any:
    return _sync(conn).connection.dbapi_connection


async def _end(conn: AsyncConnection, adapter: Any, commit: bool) -> None:
    if conn.in_transaction():
        # A statement through SQLAlchemy began its side too: ending it ends both, and
        # SQLAlchemy judges a failure itself.
        await (conn.commit() if commit else conn.rollback())
    elif (transaction := adapter._transaction) is not None:
        end = transaction.commit if commit else transaction.rollback
        await _on_driver(conn, lambda: adapter._call_and_discard(end))


async def _on_driver(conn: AsyncConnection, step: Callable[[], Awaitable[Any]]) -> None:
    try:
        await step()
    except Exception as error:
        try:
            await conn.run_sync(_raise_as_sqlalchemy_would, error)
        finally:
            await _discard(conn)
    except BaseException:
        await _discard(conn)
        raise


def _raise_as_sqlalchemy_would(sync: Connection, error: Exception) -> None:
    adapter: Any = sync.connection.dbapi_connection
    try:
        adapter._handle_exception(error)  # asyncpg's exception as the adapter's DBAPI error
    except Exception as dbapi_error:
        # What SQLAlchemy does when its own commit fails: invalidate on a disconnect (the
        # whole pool's older connections with it), raise its own exception.
        sync._handle_dbapi_exception(dbapi_error, None, None, None, None)
    raise error  # pragma: no cover - the adapter always raises


async def _discard(conn: AsyncConnection) -> None:
    """Closing the connection rolls back whatever is open; the pool opens another."""
    with contextlib.suppress(Exception):
        await conn.invalidate()
