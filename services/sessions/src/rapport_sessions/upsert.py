"""The one write primitive the projections use: an idempotent insert-or-update by primary key."""

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.projection import upsert_statement


async def upsert(
    conn: AsyncConnection, table: Table, row: Mapping[str, Any], replace: Iterable[str]
) -> None:
    """Insert row, or on a primary-key clash overwrite only the columns in replace."""
    key = tuple(column.name for column in table.primary_key)
    statement = upsert_statement(conn.dialect.name, table, key, tuple(sorted(replace)))
    await conn.execute(statement, dict(row))
