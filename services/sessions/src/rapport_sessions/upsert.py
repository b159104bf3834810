"""The one write primitive the projections use: an idempotent insert-or-update by primary key."""

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert(
    conn: AsyncConnection, table: Table, row: Mapping[str, Any], replace: Iterable[str]
) -> None:
    """Insert row, or on a primary-key clash overwrite only the columns in replace."""
    await conn.execute(_statement(conn.dialect.name, table, tuple(sorted(replace))), dict(row))


@functools.cache
def _statement(dialect_name: str, table: Table, replace: tuple[str, ...]) -> Any:
    # Built once and executed with the row as parameters: building the statement per call was
    # about half of what the consumer spent on an event.
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    keys = [column.name for column in table.primary_key]
    if replace:
        return statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in replace}
        )
    return statement.on_conflict_do_nothing(index_elements=keys)
