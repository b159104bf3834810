"""Alembic, run programmatically at start-up: each service keeps its own migration scripts.

A service's migrations/env.py is two lines (`from rapport_shared.migrations import run_env;
run_env()`), and its first revision calls create_core_tables_v1() before its own tables.
"""

from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from rapport_shared.schema import add_core_tables


def create_core_tables_v1() -> None:
    """The event store, outbox and consumer tables, as first released."""
    core = MetaData()
    add_core_tables(core)
    core.create_all(op.get_bind())


def run_env() -> None:
    connection: Connection = context.config.attributes["connection"]
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def migrate(engine: AsyncEngine, script_location: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(script_location))

    def upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            # Replicas starting together must not run the same migration twice.
            connection.execute(text("SELECT pg_advisory_xact_lock(7240117)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)
