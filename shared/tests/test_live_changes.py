"""projection.execute, run_on_driver and rows_among: prebuilt statements run on the driver inside
a write transaction (and through SQLAlchemy outside one) do what SQLAlchemy's statements did,
commit or roll back with the transaction, count the rows they touched, and find the rows asked
for however many keys there are."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from shared_tests_support import engine_with
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    insert,
    select,
)

from rapport_shared.eventsourcing.projection import Add, Insert, Update, execute
from rapport_shared.persistence.driver_sql import (
    LOOKUP_CHUNK,
    one_of,
    rows_among,
    run_on_driver,
)
from rapport_shared.persistence.upserts import upsert_statement

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


def _named_among(count: int):
    return select(rows_table.c.name, rows_table.c.count).where(
        rows_table.c.count > bindparam("above"), one_of(rows_table.c.name, count)
    )


@pytest.mark.parametrize("in_write_transaction", [True, False])
async def test_rows_among_finds_the_keys_asked_for_in_chunks(database_url, in_write_transaction):
    names = [f"n{n:03}" for n in range(5 * LOOKUP_CHUNK)]  # every other: three queries
    async with engine_with(database_url, rows_table) as engine:
        async with engine.begin() as conn:
            rows = [{"row_id": uuid4(), "name": name, "count": n} for n, name in enumerate(names)]
            await conn.execute(insert(rows_table), rows)
        # Every other name asked for, some of them absent, and only counts above 9 qualify.
        wanted = names[::2] + ["absent-1", "absent-2"]
        expected = {(name, n) for n, name in enumerate(names) if n % 2 == 0 and n > 9}
        opened = engine.begin() if in_write_transaction else engine.connect()
        async with opened as conn:
            found = await rows_among(conn, _named_among, wanted, {"above": 9})
        assert len(wanted) > 2 * LOOKUP_CHUNK
        assert {(name, count) for name, count in found} == expected
        async with engine.connect() as conn:
            assert await rows_among(conn, _named_among, [], {"above": 0}) == []
