"""projection.execute and run_on_driver: prebuilt statements run on the driver inside a write
transaction (and through SQLAlchemy outside one) do what SQLAlchemy's statements did, commit or
roll back with the transaction, and count the rows they touched."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from shared_tests_support import engine_with
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Uuid, select

from rapport_shared.projection import Add, Insert, Update, execute, run_on_driver, upsert_statement

metadata = MetaData()
rows_table = Table(
    "live_rows",
    metadata,
    Column("row_id", Uuid, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("count", Integer, nullable=False),
    Column("terms", JSON),
    Column("at", DateTime(timezone=True)),
)


async def _all(engine):
    async with engine.connect() as conn:
        rows = await conn.execute(select(rows_table).order_by(rows_table.c.name))
        return [tuple(row) for row in rows]


async def test_changes_applied_on_the_driver(database_url):
    first, second = uuid4(), uuid4()
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with engine_with(database_url, rows_table) as engine:
        async with engine.begin() as conn:
            row = {"row_id": first, "name": "a", "count": 1, "terms": {"k": [1]}, "at": at}
            assert await execute(conn, Insert(rows_table, row)) == 1
            assert await execute(conn, Add(rows_table, first, {"count": 2})) == 1
            assert await execute(conn, Update(rows_table, first, {"name": "b"})) == 1
            assert await execute(conn, Update(rows_table, second, {"name": "x"})) == 0
            assert await execute(conn, Update(rows_table, first, {})) == 0
        stored = await _all(engine)
        assert len(stored) == 1
        row_id, name, count, terms, stored_at = stored[0]
        assert (row_id, name, count, terms) == (first, "b", 3, {"k": [1]})
        assert stored_at.replace(tzinfo=UTC) == at

        # Several rows at once (an upsert's executemany), and a rollback takes them back.
        upsert = upsert_statement(engine.dialect.name, rows_table, ("row_id",), ("count", "name"))
        again = {"row_id": first, "name": "c", "count": 9}
        new = {"row_id": second, "name": "d", "count": 1}
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await run_on_driver(conn, upsert, again, [new])
                raise RuntimeError("rolled back")
        assert [r[1] for r in await _all(engine)] == ["b"]
        async with engine.begin() as conn:
            await run_on_driver(conn, upsert, again, [new])
        assert [(r[1], r[2]) for r in await _all(engine)] == [("c", 9), ("d", 1)]

        # Outside a write transaction: through SQLAlchemy, which begins one.
        async with engine.connect() as conn:
            assert await execute(conn, Update(rows_table, second, {"name": "e"})) == 1
            await conn.commit()
        assert [r[1] for r in await _all(engine)] == ["c", "e"]
