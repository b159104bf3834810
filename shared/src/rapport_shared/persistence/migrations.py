"""Alembic, run at start-up (migrate) and from its command line (run_env): each service keeps its
own chain of revisions under its migrations/ directory.

A service's migrations/env.py calls run_env through rapport_shared.runtime.alembic_env, which
names the service's database and tables. The steps of the tables every service has are written
once (shared_migrations); a service's revisions create its own tables themselves.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command, context, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, Text, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeEngine

from rapport_shared.persistence.db import create_engine


def run_env(database_url: Callable[[], str], target_metadata: Sequence[MetaData]) -> None:
    """A service's env.py. At start-up migrate hands over its connection; from the Alembic
    command line the service's own database is opened here, as Alembic's asyncio recipe does.
    target_metadata: every table the service's migrations create, which `revision
    --autogenerate` compares the database with."""
    run = partial(_run_migrations, target_metadata=target_metadata)
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        # Alembic's command line: say which revisions run, as Alembic's own templates do.
        logging.basicConfig(format="%(levelname)-5.5s [%(name)s] %(message)s")
        logging.getLogger("alembic").setLevel(logging.INFO)
        asyncio.run(_on_own_engine(database_url(), run))
    else:
        run(connection)


def _run_migrations(connection: Connection, target_metadata: Sequence[MetaData]) -> None:
    context.configure(
        connection=connection,
        target_metadata=list(target_metadata),
        render_as_batch=True,
        compare_type=_types_differ,
    )
    with context.begin_transaction():
        context.run_migrations()


def _types_differ(
    migration: MigrationContext,
    inspected_column: Column[Any],
    declared_column: Column[Any],
    inspected_type: TypeEngine[Any],
    declared_type: TypeEngine[Any],
) -> bool | None:
    """For `revision --autogenerate`: the columns that became Text for encrypted tokens (the
    privacy migrations, widen_to_text) were altered on PostgreSQL only, since SQLite stores a
    VARCHAR(n) as the same unbounded TEXT; comparing their declarations there would ask for a
    table copy that changes nothing. None: Alembic's own comparison."""
    if migration.dialect.name == "sqlite" and isinstance(declared_type, Text):
        return not isinstance(inspected_type, String)
    return None


def widen_to_text(table: str, column: str) -> None:
    """A service's own VARCHAR(n) column becomes unbounded text, to hold an enc:v1 token longer
    than the words it seals (the privacy revisions). On PostgreSQL only: SQLite never enforced
    the length, and altering the type there would copy the whole table to change nothing
    (_types_differ has `revision --autogenerate` agree)."""
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(table, column, type_=Text())


async def _on_own_engine(url: str, run: Callable[[Connection], None]) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_one_at_a_time, run)
    finally:
        await engine.dispose()


def _one_at_a_time(connection: Connection, run: Callable[[Connection], None]) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together (or an operator's command line meanwhile) must not run
        # the same migration twice.
        connection.execute(text("SELECT pg_advisory_xact_lock(7240117)"))
    run(connection)


async def migrate(engine: AsyncEngine, script_location: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(script_location))

    def upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_one_at_a_time, upgrade)
