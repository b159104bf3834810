"""Audit entries written in groups: each committed before its writer's append() returns.

Every audited request used to commit its entry in a transaction of its own (on SQLite: the
writer lock, BEGIN IMMEDIATE, INSERT, COMMIT). Under load many requests finish at once; here
the entries that arrive while one group is being written go together in the next transaction,
so a busy service commits one transaction for many entries, and an idle one still one per entry,
with no waiting for company.
"""

import asyncio
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from rapport_shared.persistence.driver_sql import insert_rows
from rapport_shared.persistence.schema import audit_log_table

log = structlog.get_logger(__name__)
Entry = dict[str, Any]


class AuditWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._waiting: list[tuple[Entry, asyncio.Future[None]]] = []
        self._turn = asyncio.Lock()
        self.transactions = 0  # for the tests: how many groups have been written

    async def append(self, entry: Entry) -> None:
        """Return once the entry is committed, or once its failure has been logged."""
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((entry, written))
        async with self._turn:
            # An earlier holder's group may have taken this entry along already.
            if not written.done() and self._waiting:
                group, self._waiting = self._waiting, []
                # Shielded: a cancelled request must not abandon the others' entries mid-write.
                await asyncio.shield(self._write(group))
        await written

    async def _write(self, group: list[tuple[Entry, asyncio.Future[None]]]) -> None:
        try:
            rows = [entry for entry, _ in group]
            try:
                await self._insert(rows)
            except Exception:
                if len(rows) == 1:
                    _lost(rows[0])
                    return
                # One bad entry must not take the others with it: each on its own, as before.
                for row in rows:
                    try:
                        await self._insert([row])
                    except Exception:
                        _lost(row)
        finally:
            for _, written in group:
                if not written.done():
                    written.set_result(None)

    async def _insert(self, rows: list[Entry]) -> None:
        async with self.engine.begin() as conn:
            # On the driver, with executemany: through SQLAlchemy's execution layer the insert
            # cost several times what the database does, per request.
            await insert_rows(conn, audit_log_table, rows)
        self.transactions += 1


def _lost(entry: Entry) -> None:
    # The response is already decided; losing its audit entry must at least be loud.
    log.exception("audit entry not written", route=entry.get("route"), sub=entry.get("sub"))
