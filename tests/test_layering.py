"""Only rapport_shared.persistence knows the database: no production code outside it reads a
connection's or an engine's `.dialect` (to branch on it), imports a SQLAlchemy dialect or a
database driver. import-linter (make lint) checks the imports of the packages; this walks the
source itself, so the services' Alembic revisions (not a package) are covered too, and reading
`.dialect` is caught, which no import shows."""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = [ROOT / "shared" / "src", *sorted((ROOT / "services").glob("*/src"))]
PERSISTENCE = ROOT / "shared" / "src" / "rapport_shared" / "persistence"
DRIVER_MODULES = ("sqlalchemy.dialects", "sqlite3", "asyncpg", "aiosqlite")


def database_knowledge(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for each `.dialect` read and each import of a dialect or a driver."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "dialect":
            yield node.lineno, f"reads {ast.unparse(node)}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_driver(alias.name):
                    yield node.lineno, f"imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            if any(_is_driver(name) for name in names):
                yield node.lineno, f"imports from {node.module}"


def _is_driver(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in DRIVER_MODULES)


def _production_files() -> Iterator[Path]:
    for top in PRODUCTION:
        for path in sorted(top.rglob("*.py")):
            if not path.is_relative_to(PERSISTENCE):
                yield path


def test_only_persistence_knows_the_dialect_or_the_driver() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _production_files()
        for line, what in database_knowledge(path.read_text())
    ]
    assert not found, (
        "Only rapport_shared.persistence may branch on the dialect or use a driver; give it a "
        "function that says what is wanted (as db.writers_take_turns, event_log.log_is_outbox, "
        "upserts.upsert do) and call that:\n  " + "\n  ".join(found)
    )


def test_the_scan_sees_a_dialect_read_and_a_driver_import() -> None:
    source = (
        "import sqlite3\n"
        "from sqlalchemy.dialects import postgresql\n"
        "from sqlalchemy import dialects\n"
        "if conn.dialect.name == 'sqlite':\n"
        "    pass\n"
    )
    assert sorted(line for line, _ in database_knowledge(source)) == [1, 2, 3, 4]


def test_the_scan_covers_production_code_and_leaves_out_persistence() -> None:
    files = {path.relative_to(ROOT).as_posix() for path in _production_files()}
    assert "shared/src/rapport_shared/eventsourcing/eventstore.py" in files
    for service in ("sessions", "goals", "notifications"):
        revisions = f"services/{service}/src/rapport_{service}/migrations/versions/"
        assert any(name.startswith(revisions) for name in files), service
    assert not any(name.startswith("shared/src/rapport_shared/persistence/") for name in files)
