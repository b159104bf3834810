"""The one write primitive the projections use: an idempotent insert-or-update by primary key."""

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert(
    conn: AsyncConnection, table: Table, row: Mapping[str, Any], replace: Iterable[str]
) -> None:
    """Insert row, or on a primary-key clash overwrite only the columns in replace."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**row)
    keys = [column.name for column in table.primary_key]
    columns = sorted(replace)
    if columns:
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in columns}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    await conn.execute(statement)
