"""Prebuilt statements run on the driver's own connection, inside SQLAlchemy's transaction.

SQLAlchemy's execution layer costs several times what a small statement itself does; the event
store, the consumer runner, the key ring, projections and the services' tables run their hot
statements here instead: compiled once (rapport_shared.persistence.db.driver_statement), then
executed on the raw sqlite3 connection or the asyncpg connection of the current transaction.
"""

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, bindparam, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.persistence.db import driver_statement, sqlite_reading, sqlite_writing
from rapport_shared.persistence.postgres_engine import postgres_driver

WRITE_CHUNK = 5000
# Keys per lookup of rows_among: its queries are compiled once per number of keys, up to this.
LOOKUP_CHUNK = 100


@functools.cache
def insert_statement(table: Table) -> Any:
    """INSERT INTO table, built once per table."""
    return insert(table)


async def run_on_driver(
    conn: AsyncConnection,
    statement: Any,
    row: Mapping[str, Any],
    many: Sequence[Mapping[str, Any]] = (),
) -> int:
    """Execute a prebuilt statement (no RETURNING) with row, and then with each of `many` (the
    same keys), on the driver's connection inside conn's write transaction, as the event store's
    appends do: SQLAlchemy's execution layer costs several times what the statement itself
    does. Outside such a transaction it goes through exec_driver_sql (which begins one).
    Returns the rows the first execution touched (how an update tells there was no row)."""
    compiled = driver_statement(statement, tuple(row), conn.dialect)
    first = compiled.parameters(row)
    rest = [compiled.parameters(other) for other in many]
    if (writing := sqlite_writing(conn)) is not None:
        touched = writing.execute(compiled.sql, first).rowcount
        if rest:
            writing.executemany(compiled.sql, rest)
        return int(touched)
    if (asyncpg := await postgres_driver(conn)) is not None:
        status = await asyncpg.execute(compiled.sql, *first)  # e.g. "UPDATE 1", "INSERT 0 1"
        if rest:
            await asyncpg.executemany(compiled.sql, rest)
        return int(status.rsplit(" ", 1)[-1])
    result = await conn.exec_driver_sql(compiled.sql, first)
    if rest:
        await conn.exec_driver_sql(compiled.sql, rest)
    return int(result.rowcount)


async def rows_on_driver(conn: AsyncConnection, statement: Any, row: dict[str, Any]) -> list[Any]:
    """The rows a prebuilt query gives for `row`, read on the driver's connection in conn's
    transaction, as run_on_driver writes: for the small lookups every consumer batch makes,
    where SQLAlchemy's execution layer costs several times the query. Values come as the driver
    gives them, without SQLAlchemy's result processing: for text and integers, the same."""
    compiled = driver_statement(statement, tuple(row), conn.dialect)
    parameters = compiled.parameters(row)
    if conn.dialect.name == "sqlite":
        return sqlite_reading(conn).execute(compiled.sql, parameters).fetchall()
    if (asyncpg := await postgres_driver(conn)) is not None:
        return list(await asyncpg.fetch(compiled.sql, *parameters))
    return list((await conn.exec_driver_sql(compiled.sql, parameters)).all())


def one_of(column: Column[Any], count: int) -> ColumnElement[bool]:
    """column IN a list of `count` parameters (among_0, among_1, ...: rows_among fills them).
    A list of known length compiles once; SQLAlchemy's expanding IN renders its SQL again on
    every execution, which was a third of a consumer's bookkeeping per batch."""
    return column.in_([bindparam(f"among_{n}", type_=column.type) for n in range(count)])


async def rows_among(
    conn: AsyncConnection, query: Callable[[int], Any], keys: Sequence[Any], row: dict[str, Any]
) -> list[Any]:
    """The rows of query(n) (cached per n, filtering with one_of(some column, n)) for these
    keys, at most LOOKUP_CHUNK of them a query, each with the other parameters in row."""
    found: list[Any] = []
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        numbered = {f"among_{n}": key for n, key in enumerate(chunk)}
        found += await rows_on_driver(conn, query(len(chunk)), row | numbered)
    return found


async def insert_rows(conn: AsyncConnection, table: Table, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows with executemany, WRITE_CHUNK rows a statement."""
    # executemany needs the same columns in every row: rows that were updated may set more
    # columns than those that were not, and the rest keep their server defaults.
    by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(frozenset(row), []).append(row)
    for group in by_columns.values():
        await execute_many(conn, insert_statement(table), group)


async def execute_many(
    conn: AsyncConnection, statement: Any, rows: Sequence[Mapping[str, Any]]
) -> None:
    """rows (all with the same keys) with executemany, WRITE_CHUNK of them a call."""
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        await run_on_driver(conn, statement, chunk[0], chunk[1:])
