"""A projection rebuild (ServiceRuntime.add_projection) racing a live update: the update waits
for the rebuild and lands on top of the rebuilt rows, neither lost nor overwritten with the
replay's older state; readers go on meanwhile (persistence.locks)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_devtools.testing import eventually
from rapport_shared.contracts.base import EventRegistry
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.runtime.service import ServiceRuntime
from rapport_shared.runtime.settings import ServiceSettings

metadata = MetaData()
totals = Table(
    "rebuilt_totals",
    metadata,
    Column("key", String(20), primary_key=True),
    Column("total", Integer, nullable=False),
)


@contextlib.asynccontextmanager
async def runtime_on(database_url: str, data_dir: Path) -> AsyncIterator[ServiceRuntime]:
    settings = ServiceSettings(database_url=database_url, data_dir=str(data_dir))
    runtime = ServiceRuntime("rebuilt", settings, EventStore(EventRegistry()), data_dir)
    async with runtime.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


async def _total(runtime: ServiceRuntime) -> int:
    async with runtime.engine.connect() as conn:
        return int((await conn.execute(select(totals.c.total))).scalar_one())


async def _waiting_on_a_lock(runtime: ServiceRuntime) -> bool:
    async with runtime.engine.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return bool(waiting.scalar_one())


async def test_a_live_update_during_a_rebuild_lands_on_the_rebuilt_rows(database_url, tmp_path):
    async with runtime_on(database_url, tmp_path) as runtime:
        async with runtime.transaction() as conn:
            await conn.execute(insert(totals).values(key="a", total=1))
        replaying, release = asyncio.Event(), asyncio.Event()

        async def replay(conn: AsyncConnection, _: ServiceRuntime) -> None:
            # What the log says (the damaged row said 1): the live update must add to this.
            await conn.execute(insert(totals).values(key="a", total=10))
            replaying.set()
            await release.wait()

        runtime.add_projection("totals", (totals,), replay)
        rebuild = asyncio.create_task(runtime.rebuild("totals"))
        await replaying.wait()

        async def live_update() -> None:
            async with runtime.transaction() as conn:
                await conn.execute(update(totals).values(total=totals.c.total + 1))

        writer = asyncio.create_task(live_update())
        if runtime.engine.dialect.name == "postgresql":
            # Without the rebuild's lock the update waits too, on the row the rebuild deleted,
            # and then finds nothing to update: the final total below tells the two apart.
            await eventually(lambda: _waiting_on_a_lock(runtime))
        assert await _total(runtime) == 1  # readers see the old rows until the rebuild commits
        assert not writer.done()
        release.set()
        await rebuild
        await writer
        assert await _total(runtime) == 11
