"""Alembic, run at start-up (migrate) and from its command line: each service keeps its own
migration scripts.

A service's migrations/env.py calls run_env through rapport_shared.runtime.alembic_env, which
names the service's database and tables; its first revision calls create_core_tables_v1()
before its own tables.
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
from rapport_shared.persistence.schema import add_access_tables, add_core_tables


def create_core_tables_v1() -> None:
    """The event store, outbox and consumer tables, as first released."""
    core = MetaData()
    tables = add_core_tables(core)
    core.remove(tables["outbox_cursor"])  # migration 0007's
    core.remove(tables["outbox_quarantine"])  # the outbox_quarantine migration's
    core.create_all(op.get_bind())
    create_events_clinic_time_index()
    create_events_event_id_index()


def create_events_event_id_index() -> None:
    op.create_index("uq_events_event_id", "events", ["event_id"], unique=True)


def create_events_clinic_time_index() -> None:
    op.create_index("ix_events_clinic_time", "events", ["clinic_id", "occurred_at"])


def drop_events_clinic_time_index() -> None:
    """No query ever used it (events are read by stream or by position), and every append paid
    for it: one more page written per commit, a sixth of a SQLite append."""
    op.drop_index("ix_events_clinic_time", table_name="events")


def fold_outbox_into_log() -> None:
    """Migration 0007: no unique index on event_id, and on SQLite the events table becomes the
    outbox (rapport_shared.messaging.outbox says why).

    SQLite cannot drop the unique constraint that databases created before this carry inside
    their CREATE TABLE, so there the events table is copied into a new one. The relay starts
    from the oldest event still waiting in the outbox: events between it and the newest that
    had gone out already go out again, and JetStream's duplicate window and the consumers'
    event-id check drop them."""
    bind = op.get_bind()
    core = MetaData()
    tables = add_core_tables(core)
    if bind.dialect.name == "sqlite":
        op.execute("ALTER TABLE events RENAME TO events_before_0007")
        tables["events"].create(bind)
        columns = ", ".join(column.name for column in tables["events"].columns)
        op.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM events_before_0007")
        op.execute("DROP TABLE events_before_0007")
    else:
        op.execute("ALTER TABLE events DROP CONSTRAINT IF EXISTS events_event_id_key")
        op.execute("DROP INDEX IF EXISTS uq_events_event_id")
    tables["outbox_cursor"].create(bind)
    op.execute(
        "INSERT INTO outbox_cursor (id, position) SELECT 1, COALESCE("
        "(SELECT MIN(position) - 1 FROM outbox), (SELECT MAX(position) FROM events), 0)"
    )


def unfold_outbox_from_log() -> None:
    """Back to 0006: possible only once every event in the SQLite log has gone out (0006 would
    not know the rest are waiting)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        waiting = bind.execute(
            text(
                "SELECT COUNT(*) FROM events WHERE position > (SELECT position FROM outbox_cursor)"
            )
        ).scalar_one()
        if waiting:
            raise RuntimeError(f"{waiting} events wait to be published: start the service first")
    op.drop_table("outbox_cursor")
    create_events_event_id_index()


def create_outbox_quarantine_table() -> None:
    """Migration <n>_outbox_quarantine: where the relay sets aside an event the broker refuses
    for good (rapport_shared.messaging.quarantine)."""
    add_core_tables(MetaData())["outbox_quarantine"].create(op.get_bind())


def drop_outbox_quarantine_table() -> None:
    op.drop_table("outbox_quarantine")


# The audit log is append-only below the API too: the database itself refuses to change or
# remove an entry, whatever code (or person with a SQL prompt and the service's login) asks.
_APPEND_ONLY_SQLITE = [
    f"""CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"""
    for verb in ("UPDATE", "DELETE")
]
_APPEND_ONLY_POSTGRES = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def create_access_tables_v1() -> None:
    """The audit log (append-only, enforced by triggers) and the care-team projection."""
    access = MetaData()
    add_access_tables(access)
    bind = op.get_bind()
    access.create_all(bind)
    postgres = bind.dialect.name == "postgresql"
    for statement in _APPEND_ONLY_POSTGRES if postgres else _APPEND_ONLY_SQLITE:
        op.execute(statement)


def drop_access_tables_v1() -> None:
    bind = op.get_bind()
    access = MetaData()
    add_access_tables(access)
    access.drop_all(bind)
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


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
    privacy migrations) were altered on PostgreSQL only, since SQLite stores a VARCHAR(n) as
    the same unbounded TEXT; comparing their declarations there would ask for a table copy
    that changes nothing. None: Alembic's own comparison."""
    if migration.dialect.name == "sqlite" and isinstance(declared_type, Text):
        return not isinstance(inspected_type, String)
    return None


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
