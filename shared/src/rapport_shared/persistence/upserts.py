"""The one insert-or-update the read sides use: INSERT ... ON CONFLICT, built once per shape and
run on the driver (driver_sql.run_on_driver). Executed at once (upsert), or described (Upsert)
and written with others (write_all).

The statement is the dialect's own (PostgreSQL's and SQLite's ON CONFLICT are SQLAlchemy
constructs of their dialects), so it is chosen here and not by the caller.
"""

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.persistence.driver_sql import execute_many, run_on_driver

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Upsert:
    """Insert row, or on a primary-key clash overwrite only the columns in replace."""

    table: Table
    row: dict[str, Any]
    replace: tuple[str, ...] = ()


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Row | Iterable[Row],
    replace: Iterable[str] = (),
    *,
    key: Sequence[str] | None = None,
) -> None:
    """Insert the row (or rows, in their order), or on a clash of key (the table's primary key
    unless named) overwrite only the columns in replace with the new row's; with none, the row
    already there stays as it is. Several rows go with executemany: the driver executes the
    statement once per row, so a later row with the same key lands on the earlier one just as
    a statement each would, for a fraction of SQLAlchemy's cost per statement."""
    conflict = _primary_key(table) if key is None else tuple(key)
    statement = upsert_statement(conn.dialect.name, table, conflict, tuple(sorted(replace)))
    if isinstance(rows, Mapping):
        await run_on_driver(conn, statement, rows)
        return
    # Consecutive rows with the same columns share a statement; the order is never changed.
    for _names, group in itertools.groupby(rows, key=frozenset):
        await execute_many(conn, statement, list(group))


async def insert_if_absent(conn: AsyncConnection, table: Table, row: Row) -> bool:
    """Insert row unless its primary key is taken (the row there stays as it is): whether it
    went in. One statement, so two writers racing for the same key need no savepoint."""
    statement = upsert_statement(conn.dialect.name, table, _primary_key(table), ())
    return await run_on_driver(conn, statement, row) == 1


async def write_all(conn: AsyncConnection, upserts: Iterable[Upsert]) -> None:
    """Execute upserts with one executemany per table and replace set, in the order each first
    appears: upserts of different kinds may run in another order than given. That is the same
    result only because the projections' upserts commute (each kind writes columns no other
    kind writes, or inserts a row keyed by the fact's own identity); upserts of one kind keep
    their order."""
    groups: dict[tuple[Table, tuple[str, ...]], list[Row]] = {}
    for change in upserts:
        groups.setdefault((change.table, change.replace), []).append(change.row)
    for (table, replace), rows in groups.items():
        await upsert(conn, table, rows, replace)


@functools.cache
def upsert_statement(
    dialect_name: str, table: Table, key: tuple[str, ...], replace: tuple[str, ...]
) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET the replace columns to the new row's (DO
    NOTHING when there are none). Built once per shape and executed with rows as parameters:
    building it per call was about half of what a consumer spent on an event."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    if replace:
        return statement.on_conflict_do_update(
            index_elements=list(key), set_={name: statement.excluded[name] for name in replace}
        )
    return statement.on_conflict_do_nothing(index_elements=list(key))


@functools.cache
def _primary_key(table: Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key)
