"""The first migration creates exactly the projection tables declared in tables.py."""

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from rapport_sessions.bootstrap import MIGRATIONS
from rapport_sessions.tables import metadata
from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.migrations import migrate
from rapport_shared.persistence.schema import metadata as core_metadata
from rapport_shared.web.idempotency.table import idempotency_keys


def _describe(conn: Connection) -> dict[str, Any]:
    inspector = inspect(conn)
    return {
        table: {
            "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(table)},
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": {i["name"]: i["column_names"] for i in inspector.get_indexes(table)},
        }
        for table in inspector.get_table_names()
    }


def _declared() -> dict[str, Any]:
    return {
        table.name: {
            "columns": {c.name: c.nullable for c in table.columns},
            "primary_key": [c.name for c in table.primary_key.columns],
            "indexes": {i.name: [c.name for c in i.columns] for i in table.indexes},
        }
        for table in [*metadata.sorted_tables, client_keys]
    }


async def test_the_migration_creates_the_declared_projection_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, MIGRATIONS)
        await migrate(engine, MIGRATIONS)  # a restart finds it done
        async with engine.connect() as conn:
            created = await conn.run_sync(_describe)
    finally:
        await engine.dispose()
    # Shared tables every service has: the core ones and the Idempotency-Key store.
    core = set(core_metadata.tables) | {"alembic_version", idempotency_keys.name}
    assert core <= set(created)
    assert {name: created[name] for name in set(created) - core} == _declared()
