"""Changes to projection tables, as data: executed one statement each when an event is applied
live, or folded into rows in memory when a projection is rebuilt from the whole store.

A projection says once what an event changes (a list of Insert / Update / Add); both paths apply
the same list. Rebuilding through the live path cost a few statements per event, each about half
a millisecond of SQLAlchemy and driver work; folded, a rebuild writes each table with a few
executemany inserts per 10,000 rows.
"""

import contextlib
import functools
import gc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.persistence.driver_sql import insert_rows, insert_statement, run_on_driver

# About 1 kB a row: what a rebuild may hold before writing out (a service stays within 150 MB).
MAX_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class Insert:
    """A new row (every column it sets)."""

    table: Table
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Update:
    """Set columns of the row with this primary key, if there is one."""

    table: Table
    key: Any
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Add:
    """Add to counters of the row with this primary key, if there is one."""

    table: Table
    key: Any
    counts: dict[str, int]


Change = Insert | Update | Add


@functools.cache
def _key_column(table: Table) -> Column[Any]:
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        raise ValueError(f"{table.name}: Update and Add need a single-column primary key")
    return columns[0]


# The parameters of _update and _add: "set_" and the column's name (a column's own name is
# SQLAlchemy's for its SET clause), and "key_".
@functools.cache
def _update(table: Table, names: tuple[str, ...]) -> Any:
    """UPDATE table SET each named column to its parameter WHERE the key is :key_."""
    values = {name: bindparam(f"set_{name}", type_=table.c[name].type) for name in names}
    return update(table).where(_key_column(table) == bindparam("key_")).values(values)


@functools.cache
def _add(table: Table, names: tuple[str, ...]) -> Any:
    """UPDATE table SET each named counter to itself plus its parameter WHERE the key is :key_."""
    values = {
        name: table.c[name] + bindparam(f"set_{name}", type_=table.c[name].type) for name in names
    }
    return update(table).where(_key_column(table) == bindparam("key_")).values(values)


def _parameters(values: dict[str, Any], key: Any) -> dict[str, Any]:
    return {f"set_{name}": value for name, value in values.items()} | {"key_": key}


async def execute(conn: AsyncConnection, change: Change) -> int:
    """Apply one change with one statement (the live path), prebuilt per table and columns and
    run on the driver (building and executing it through SQLAlchemy was about a third of a goals
    consumer's time per event). Returns how many rows it touched."""
    table = change.table
    if isinstance(change, Insert):
        return await run_on_driver(conn, insert_statement(table), change.row)
    if isinstance(change, Update):
        if not change.values:  # e.g. a revision of a goal's words only: nothing in these columns
            return 0
        names = tuple(change.values)
        return await run_on_driver(
            conn, _update(table, names), _parameters(change.values, change.key)
        )
    names = tuple(change.counts)
    return await run_on_driver(conn, _add(table, names), _parameters(change.counts, change.key))


class Fold:
    """The rows of a set of tables, emptied for a rebuild, built in memory from changes.

    Memory is bounded: once more than max_rows rows are held they are written out and
    forgotten. A later change to a row no longer held is then executed as a statement, as live,
    and a lookup of such a row reads it back, so the result is the same whatever the bound.
    """

    def __init__(self, conn: AsyncConnection, tables: Sequence[Table]) -> None:
        self._conn = conn
        self._rows: dict[Table, dict[Any, dict[str, Any]]] = {table: {} for table in tables}
        self._keys = {table: [c.name for c in table.primary_key.columns] for table in tables}
        self._max_rows = MAX_ROWS
        self._held = 0

    async def row(self, table: Table, key: Any) -> Any:
        """The row with this primary key; NoResultFound if there is none (as live)."""
        held = self._rows[table].get(key)
        if held is not None:
            return held
        found = await self._conn.execute(select(table).where(_key_column(table) == key))
        return found.one()._mapping

    async def apply(self, changes: Iterable[Change]) -> None:
        for change in changes:
            rows = self._rows[change.table]
            if isinstance(change, Insert):
                names = self._keys[change.table]
                key = (
                    change.row[names[0]]
                    if len(names) == 1
                    else tuple(change.row[name] for name in names)
                )
                if key in rows:  # live, the primary key would refuse it
                    raise ValueError(f"{change.table.name}: a second row with key {key!r}")
                rows[key] = dict(change.row)
                self._held += 1
            elif (row := rows.get(change.key)) is None:
                await execute(self._conn, change)  # written out already (or no such row)
            elif isinstance(change, Update):
                row.update(change.values)
            else:
                for name, amount in change.counts.items():
                    row[name] += amount
        if self._held > self._max_rows:
            await self.write()

    async def write(self) -> None:
        """Insert every row held, table by table in the order given, and forget them."""
        for table, rows in self._rows.items():
            await insert_rows(self._conn, table, rows.values())
            rows.clear()
        self._held = 0


class _CollectorPause:
    """Overlapping rebuilds keep the collector paused until the last one ends; it is turned
    back on only if it was on when the first began."""

    def __init__(self) -> None:
        self.holders = 0
        self.resume = False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.holders == 0:
            self.resume = gc.isenabled()
        self.holders += 1
        gc.disable()
        try:
            yield
        finally:
            self.holders -= 1
            if self.holders == 0 and self.resume:
                gc.enable()
                gc.collect()


_collector = _CollectorPause()


def cycle_collection_paused() -> contextlib.AbstractContextManager[None]:
    """Python's cycle collector paused while a projection is rebuilt, collecting once after.

    A rebuild holds thousands of folded rows while it decodes and discards a hundred thousand
    events; each of the collector's passes walks every live object, and they took about a
    quarter of the rebuild's CPU (goals' 30,000-event rebuild: 16,500 events per CPU-second
    with it on, 21,800 paused; medians of 4). The replay leaves no cycles that need collecting
    early: reference counting frees the decoded events as it goes."""
    return _collector.held()
