"""The three services' Alembic chains: each runs every shared tables' step
(rapport_shared.persistence.shared_migrations) once, in the order listed there; each revision's
docstring names the revision it is and the one it follows; each chain goes all the way down to an
empty database and up again."""

import ast
from importlib.resources import files
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from rapport_shared.persistence.db import create_engine

SERVICES = ("sessions", "goals", "notifications")
# The modules whose functions are the shared tables' steps.
STEP_MODULES = {
    "rapport_shared.persistence.shared_migrations",
    "rapport_shared.eventsourcing.client_keys_migrations",
    "rapport_shared.web.idempotency.migrations",
}
# As shared_migrations' docstring lists them.
SHARED_STEPS = [
    "create_core_tables_v1",
    "create_access_tables_v1",
    "create_client_keys_table",
    "create_idempotency_table_v1",
    "drop_events_clinic_time_index",
    "fold_outbox_into_log",
    "create_outbox_quarantine_table",
    "seal_stored_answers_v2",
]


def _migrations(service: str) -> Path:
    return Path(str(files(f"rapport_{service}") / "migrations"))


def _chain(service: str) -> list[Script]:
    config = Config()
    config.set_main_option("script_location", str(_migrations(service)))
    return list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))


def _shared_steps_in(upgrade_of: Script) -> list[str]:
    """The shared steps a revision's upgrade() calls, in order."""
    tree = ast.parse(Path(upgrade_of.path).read_text())
    steps = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module in STEP_MODULES
        for alias in node.names
    }
    [upgrade] = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "upgrade"
    ]
    return [
        node.func.id
        for node in ast.walk(upgrade)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in steps
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_every_chain_runs_each_shared_step_once(service: str) -> None:
    steps = [step for script in _chain(service) for step in _shared_steps_in(script)]
    if service == "notifications":  # its client keys came with its 0010
        steps.insert(2, steps.pop(steps.index("create_client_keys_table")))
    assert steps == SHARED_STEPS


def test_the_shared_steps_listed_in_order_where_they_are_written() -> None:
    from rapport_shared.persistence import shared_migrations

    listed = [
        line.split()[0]
        for line in (shared_migrations.__doc__ or "").splitlines()
        if line.startswith("    ") and line.split()
    ]
    assert listed == SHARED_STEPS


@pytest.mark.parametrize("service", SERVICES)
def test_each_revision_names_itself_and_its_predecessor(service: str) -> None:
    for script in _chain(service):
        lines = [line.strip() for line in (script.module.__doc__ or "").splitlines()]
        assert f"Revision ID: {script.revision}" in lines, script.path
        assert f"Revises: {script.down_revision or ''}".strip() in lines, script.path


def _alembic(connection: Connection, service: str, step: str, revision: str) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(_migrations(service)))
    config.attributes["connection"] = connection
    (command.upgrade if step == "up" else command.downgrade)(config, revision)
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize("service", SERVICES)
async def test_each_chain_goes_down_to_an_empty_database_and_up_again(
    service: str, database_url: str
) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            created = await conn.run_sync(_alembic, service, "up", "head")
        async with engine.begin() as conn:
            assert await conn.run_sync(_alembic, service, "down", "base") == {"alembic_version"}
        async with engine.begin() as conn:
            assert await conn.run_sync(_alembic, service, "up", "head") == created
    finally:
        await engine.dispose()
