"""Audit entries written in groups (rapport_shared.security.audit_writer), against a real database:
every entry is committed when its append returns, concurrent entries share transactions, and
an entry the database refuses costs only itself."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from shared_tests_support import engine_with
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from rapport_devtools.testing import eventually
from rapport_shared.persistence.schema import audit_log_table
from rapport_shared.security.audit_writer import AuditWriter


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with engine_with(database_url, audit_log_table) as engine:
        yield engine


def entry(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC),
        "clinic_id": "northside",
        "target_clinic_id": "northside",
        "sub": f"person-{n}",
        "role": "counselor",
        "method": "POST",
        "route": "/clinics/{clinic_id}/sessions",
        "resource": {"n": str(n)},
        "client_id": None,
        "client_address": "127.0.0.1",
        "status": 200,
        "correlation_id": f"c-{n}",
        **overrides,
    }


async def subs(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(audit_log_table.c.sub).order_by(audit_log_table.c.id))
        return list(rows.scalars())


async def test_each_entry_is_committed_when_its_append_returns(engine: AsyncEngine) -> None:
    writer = AuditWriter(engine)

    async def append_and_look(n: int) -> bool:
        await writer.append(entry(n))
        return f"person-{n}" in await subs(engine)

    assert all(await asyncio.gather(*(append_and_look(n) for n in range(20))))
    assert sorted(await subs(engine)) == sorted(f"person-{n}" for n in range(20))
    # Entries that arrived during a write went together in the next transaction.
    assert writer.transactions < 20


async def test_alone_an_entry_is_written_at_once(engine: AsyncEngine) -> None:
    writer = AuditWriter(engine)
    for n in range(3):
        await writer.append(entry(n))
        assert await subs(engine) == [f"person-{m}" for m in range(n + 1)]
    assert writer.transactions == 3


async def test_an_entry_the_database_refuses_costs_only_itself(
    engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = AuditWriter(engine)
    entries = [entry(n) for n in range(6)]
    entries[3]["status"] = None  # NOT NULL
    await asyncio.gather(*(writer.append(e) for e in entries))
    assert sorted(await subs(engine)) == [f"person-{n}" for n in (0, 1, 2, 4, 5)]
    # stdout with structlog's default set-up, stderr once a service in this run configured it
    captured = capsys.readouterr()
    assert "audit entry not written" in captured.out + captured.err


async def test_a_cancelled_request_does_not_abandon_the_entries_it_was_writing(
    engine: AsyncEngine,
) -> None:
    writer = AuditWriter(engine)
    started: asyncio.Queue[Any] = asyncio.Queue()
    go = asyncio.Semaphore(0)
    insert = writer._insert

    async def held(rows: Any) -> None:  # each write waits for the test's go
        started.put_nowait(rows)
        await go.acquire()
        await insert(rows)

    writer._insert = held  # type: ignore[method-assign]
    first = asyncio.create_task(writer.append(entry(0)))
    await started.get()
    queued = [asyncio.create_task(writer.append(entry(n))) for n in (1, 2, 3)]
    await eventually(lambda: len(writer._waiting) == 3)
    go.release()
    await first
    group = await started.get()  # the next holder writes all three queued entries
    assert [row["sub"] for row in group] == ["person-1", "person-2", "person-3"]
    holder = queued[0]  # first in line for the turn (asyncio.Lock is FIFO)
    holder.cancel()
    go.release()
    await asyncio.gather(*queued, return_exceptions=True)
    assert await subs(engine) == [f"person-{n}" for n in range(4)]


async def test_an_entry_is_stored_as_sqlalchemy_stores_it(engine: AsyncEngine) -> None:
    """On SQLite the writer inserts on the driver itself: every column must read back as an
    insert through SQLAlchemy stores it (times, the JSON resource, NULLs), alone or grouped."""
    at = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)
    same = {"at": at, "client_id": "alice", "resource": {"session_id": "s-1", "n": "é"}}
    writer = AuditWriter(engine)
    await writer.append(entry(0, **same))
    await asyncio.gather(*(writer.append(entry(n, **same)) for n in (1, 2)))
    async with engine.begin() as conn:
        await conn.execute(insert(audit_log_table), entry(3, **same))
    async with engine.connect() as conn:
        rows = (await conn.execute(select(audit_log_table).order_by(audit_log_table.c.id))).all()
    stored = [
        {k: v for k, v in row._mapping.items() if k not in ("id", "sub", "correlation_id")}
        for row in rows
    ]
    assert len(stored) == 4
    assert stored[0] == stored[1] == stored[2] == stored[3]
    assert stored[0]["resource"] == same["resource"]
    assert stored[0]["at"].replace(tzinfo=UTC) == at
    async with engine.connect() as conn:
        raw = (await conn.exec_driver_sql("SELECT at, resource FROM audit_log ORDER BY id")).all()
    assert all(row == raw[0] for row in raw)  # the very same stored values, whichever path
