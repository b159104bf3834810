"""Holding off a read model's live writers while a rebuild empties and refills it.

A rebuild replays the log into emptied tables in one transaction. What must not happen is a live
update (an append's inline projection, a consumer's upsert, an erasure's delete, a delivery
claim) committing in between and being lost under the replay's older state, or landing on rows
the rebuild then deletes. Locking the read model's own tables against writers does it for every
kind of live writer, whether it appends events or not: a writer that touched them first is
waited for (and so is in the log the replay reads), a later one waits and then writes on top of
the rebuilt rows, reading them afresh. Readers go on and see the old rows until the commit.

Locking the event log instead (SHARE) would only hold off writers that append: not the sessions
service's consumer of goals events, nor an erasure that deletes rows without appending (whose
delete, blocked on the rebuild's row locks, then misses the rows the replay put back).

The tables are locked one after another, so a live transaction that already wrote one of them
and then wants one the rebuild holds closes a cycle. PostgreSQL ends the transaction whose wait
passes deadlock_timeout first, the rebuild's (it started waiting first): the live update goes
through, and the operator runs the rebuild again.
"""

from collections.abc import Sequence

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection


async def hold_off_writers(conn: AsyncConnection, tables: Sequence[Table]) -> None:
    """Until this transaction ends, nobody else writes these tables; reads go on.

    PostgreSQL: EXCLUSIVE mode, which conflicts with every row lock a write (or SELECT ... FOR
    UPDATE) takes and with no plain read. SQLite: nothing to do, a write transaction begins
    IMMEDIATE and already excludes every other writer of the database."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(conn.dialect.identifier_preparer.format_table(t) for t in tables)
        await conn.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
