"""Statements built once and executed without SQLAlchemy's work per statement.

A close-session runs half a dozen small statements in the sessions process (the stream's load,
the notes projection's upserts and updates); through SQLAlchemy's execution layer (cache key,
compiled-cache lookup, execution context, result) each cost several times what SQLite itself
does, about a fifth of the process's CPU per command. Here a statement is compiled once per
shape (rapport_shared.db.driver_statement, which also applies each bound type's conversion) and
run on the sqlite3 connection itself when the caller is in the SQLite engine's write
transaction, as the event store's appends are; anywhere else (a read, PostgreSQL) through
exec_driver_sql, which joins or begins the connection's transaction as conn.execute would.

Rows come back as the driver gives them, without the column types' result processing: callers
read only columns the driver returns as they are (text, integers) or handle both forms.
"""

import functools
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.db import driver_statement, sqlite_driver

# The bound name of the primary key in the updates below: no column is called that.
KEY = "key_"


def sqlite_writing(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The sqlite3 connection under conn when conn is in its engine's write transaction
    (rapport_shared.db.SQLiteEngine.begin): statements on it join that transaction."""
    if conn.dialect.name != "sqlite":
        return None
    driver = sqlite_driver(conn)
    return driver.sqlite if driver.in_write_transaction else None


async def execute(conn: AsyncConnection, statement: Any, row: Mapping[str, Any]) -> None:
    """statement (built once by the caller) with row's values as its parameters."""
    compiled = driver_statement(statement, tuple(row), conn.dialect)
    parameters = compiled.parameters(dict(row))
    if (writing := sqlite_writing(conn)) is not None:
        writing.execute(compiled.sql, parameters)
    else:
        await conn.exec_driver_sql(compiled.sql, parameters)


async def fetch_all(
    conn: AsyncConnection, statement: Any, parameters: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """The rows of a query (built once by the caller), as the driver returns them."""
    compiled = driver_statement(statement, tuple(parameters), conn.dialect)
    values = compiled.parameters(dict(parameters))
    if (writing := sqlite_writing(conn)) is not None:
        return writing.execute(compiled.sql, values).fetchall()
    return (await conn.exec_driver_sql(compiled.sql, values)).all()


@functools.cache
def update_by_key(table: Table) -> Any:
    """UPDATE table SET <the row's columns> WHERE <its single-column primary key> = :key_; the
    columns set are the other keys of the row it is executed with."""
    (key,) = table.primary_key.columns
    return update(table).where(key == bindparam(KEY, type_=key.type))


async def update_row(conn: AsyncConnection, table: Table, key: Any, **values: Any) -> None:
    """Set columns of the row with this primary key, if there is one."""
    await execute(conn, update_by_key(table), {**values, KEY: key})
