"""The one write primitive the projections use: an idempotent insert-or-update by primary key,
executed at once (upsert) or described (Upsert) and written with others (write_all)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.persistence.driver_sql import run_on_driver, upsert_rows, upsert_statement


@dataclass(frozen=True, slots=True)
class Upsert:
    """Insert row, or on a primary-key clash overwrite only the columns in replace."""

    table: Table
    row: dict[str, Any]
    replace: tuple[str, ...] = ()


async def upsert(
    conn: AsyncConnection, table: Table, row: Mapping[str, Any], replace: Iterable[str]
) -> None:
    """Insert row, or on a primary-key clash overwrite only the columns in replace."""
    key = tuple(column.name for column in table.primary_key)
    statement = upsert_statement(conn.dialect.name, table, key, tuple(sorted(replace)))
    await run_on_driver(conn, statement, dict(row))


async def write_all(conn: AsyncConnection, upserts: Iterable[Upsert]) -> None:
    """Execute upserts with one executemany per table and replace set, in the order each first
    appears: upserts of different kinds may run in another order than given. That is the same
    result only because the projections' upserts commute (each kind writes columns no other
    kind writes, or inserts a row keyed by the fact's own identity); upserts of one kind keep
    their order."""
    groups: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
    for change in upserts:
        groups.setdefault((change.table, change.replace), []).append(change.row)
    for (table, replace), rows in groups.items():
        await upsert_rows(conn, table, rows, replace)
