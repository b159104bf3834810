"""Appending: Rapport's event store against the eventsourcing library's Application.save on the
same database (one event per transaction, serially), and against raw asyncpg single-row inserts
with 32 concurrent writers.

Like with like: SQLite runs WAL + synchronous=NORMAL on both sides (Rapport's engine sets it,
eventsourcing's connections get the same PRAGMA here); PostgreSQL runs the server's settings
(synchronous_commit as configured, reported) for every side.
"""

import contextlib
import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from eventsourcing import sqlite as eventsourcing_sqlite
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding
from sqlalchemy import MetaData
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateTable

from bench.common import Report, asyncpg_dsn, goal_agreed, median, rate_for, scratch_postgres
from rapport_shared.contracts import public_registry
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.schema import add_core_tables

# Serially, five short rounds a side rather than two long ones: on SQLite one side's rate moved by
# a third from one 2 s window to the next, and with two rounds a single slow window moved the
# ratio by as much (1.45 to 2.2 in the same hour).
SERIAL_SECONDS = 0.8
SERIAL_ROUNDS = 5
CONCURRENT_SECONDS = 3.0
CONCURRENT_ROUNDS = 2
WRITERS = 32
WARM_UP = 50


class Goal(Aggregate):
    """The eventsourcing side's aggregate: its created event carries what GoalAgreed carries."""

    def __init__(
        self,
        clinic_id: str,
        client_id: str,
        counselor_id: str,
        due_date: date,
        agreed_at: datetime,
    ) -> None:
        self.clinic_id = clinic_id
        self.client_id = client_id
        self.counselor_id = counselor_id
        self.due_date = due_date
        self.agreed_at = agreed_at


class DateAsIso(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class GoalsApplication(Application[uuid.UUID]):
    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsIso())


def new_goal() -> Goal:
    event = goal_agreed()
    return Goal(
        event.clinic_id,
        event.client_id,
        event.counselor_id,
        event.due_date,
        event.agreed_at,
    )


@contextlib.contextmanager
def sqlite_synchronous_normal() -> Iterator[None]:
    """eventsourcing has no setting for SQLite's synchronous mode: give its new connections the
    PRAGMA Rapport's engine uses (WAL it already sets by itself)."""
    pool = eventsourcing_sqlite.SQLiteConnectionPool
    original = pool._create_connection

    def create_connection(self: Any) -> Any:
        connection = original(self)
        connection._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        return connection

    pool._create_connection = create_connection  # type: ignore[method-assign]
    try:
        yield
    finally:
        pool._create_connection = original  # type: ignore[method-assign]


def sync_rate_for(seconds: float, work: Callable[[], object]) -> float:
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        work()
        done += 1
    return done / (time.perf_counter() - started)


async def rapport_engine(url: str) -> tuple[AsyncEngine, EventStore]:
    engine = create_engine(url)  # Rapport's own engine settings (WAL + NORMAL on SQLite)
    tables = MetaData()
    add_core_tables(tables)
    async with engine.begin() as conn:
        await conn.run_sync(tables.create_all)
    return engine, EventStore(public_registry())


def appender(engine: AsyncEngine, store: EventStore) -> Callable[[], Any]:
    async def append_one() -> None:
        event = goal_agreed()
        async with engine.begin() as conn:
            await store.append(conn, f"goal-{event.goal_id}", 0, [event])

    return append_one


async def serial_ratio(
    rapport_url: str, eventsourcing_env: dict[str, str], floor: Callable[[], object] | None = None
) -> dict[str, Any]:
    """floor: a third side measured alongside (reported, not part of the ratio)."""
    engine, store = await rapport_engine(rapport_url)
    application = GoalsApplication(env={"CREATE_TABLE": "y", **eventsourcing_env})
    append_one = appender(engine, store)
    try:
        for _ in range(WARM_UP):
            await append_one()
            application.save(new_goal())
            if floor is not None:
                floor()
        rapport: list[float] = []
        library: list[float] = []
        floors: list[float] = []

        async def rapport_round() -> None:
            rapport.append(await rate_for(SERIAL_SECONDS, append_one))

        async def library_round() -> None:
            library.append(sync_rate_for(SERIAL_SECONDS, lambda: application.save(new_goal())))

        async def floor_round() -> None:
            if floor is not None:
                floors.append(sync_rate_for(SERIAL_SECONDS, floor))

        sides = [rapport_round, library_round, floor_round]
        # Interleaved, so drift in the machine hits every side alike; who goes first rotates.
        for round_ in range(SERIAL_ROUNDS):
            first = round_ % len(sides)
            for side in sides[first:] + sides[:first]:
                await side()
    finally:
        application.close()
        await engine.dispose()
    figures = {
        "rapport_per_s": round(median(rapport)),
        "eventsourcing_per_s": round(median(library)),
        "ratio": median(rapport) / median(library),
        "rounds": SERIAL_ROUNDS,
        "each_round_ratio": [round(r / e, 2) for r, e in zip(rapport, library, strict=True)],
    }
    if floors:
        figures["floor_per_s"] = round(median(floors))
    return figures


def sqlite_floor(database: Path) -> Callable[[], None]:
    """Rapport's append with no framework at all: the same row (the event encoded as the event
    store encodes it) and the same insert and commit, on a bare sqlite3 connection with the same
    schema and settings. On SQLite the events table is the outbox, so an append of a
    goal-agreed writes no outbox row (rapport_shared.messaging.outbox). What the schema and SQLite
    cost; the gap between it and Rapport's figure is Python's."""
    store = sqlite3.connect(database, isolation_level=None)
    store.execute("PRAGMA journal_mode=WAL")
    store.execute("PRAGMA synchronous=NORMAL")
    tables = MetaData()
    add_core_tables(tables)
    for table in tables.sorted_tables:
        store.execute(str(CreateTable(table).compile(dialect=sqlite_dialect())))
        for index in table.indexes:
            store.execute(str(CreateIndex(index).compile(dialect=sqlite_dialect())))
    insert_event = (
        "INSERT INTO events (event_id, stream_id, version, event_type, schema_version,"
        " clinic_id, occurred_at, data, metadata) VALUES (?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (stream_id, version) DO NOTHING"
    )

    def append() -> None:
        event = goal_agreed()
        event_id, now = str(uuid.uuid4()), datetime.now(UTC)
        data, meta = event.model_dump_json(), {"correlation_id": str(uuid.uuid4())}
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        store.execute("BEGIN IMMEDIATE")
        row = (event_id, f"goal-{event.goal_id}", 1, event.event_type, 2, event.clinic_id)
        store.execute(insert_event, (*row, stamp, data, json.dumps(meta)))
        store.execute("COMMIT")

    return append


def raw_asyncpg_insert(pool: asyncpg.Pool) -> Callable[[], Any]:
    """A single-row insert into the same table definition, in a transaction of its own."""
    statement = (
        "INSERT INTO events (event_id, stream_id, version, event_type, schema_version,"
        " clinic_id, occurred_at, data, metadata) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
    )

    async def insert_one() -> None:
        event = goal_agreed()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                statement,
                str(uuid.uuid4()),
                f"goal-{event.goal_id}",
                1,
                event.event_type,
                1,
                event.clinic_id,
                event.agreed_at,
                event.model_dump_json(),
                json.dumps({"correlation_id": str(uuid.uuid4())}),
            )

    return insert_one


async def concurrent_rates(rapport_url: str, raw_url: str) -> dict[str, float]:
    """Both sides with WRITERS writers, each in its own scratch database, CONCURRENT_ROUNDS
    times, interleaved and taking turns to go first (so drift in the machine hits both alike): the
    medians."""
    engine, store = await rapport_engine(rapport_url)
    raw_engine, _ = await rapport_engine(raw_url)  # the same table definition, nothing else
    await raw_engine.dispose()
    pool = await asyncpg.create_pool(asyncpg_dsn(raw_url), min_size=WRITERS, max_size=WRITERS)
    append_one, insert_one = appender(engine, store), raw_asyncpg_insert(pool)
    try:
        for _ in range(WARM_UP):
            await append_one()
            await insert_one()
        rates: dict[str, list[float]] = {"rapport_per_s": [], "raw_asyncpg_per_s": []}
        sides = [("rapport_per_s", append_one), ("raw_asyncpg_per_s", insert_one)]
        for round_ in range(CONCURRENT_ROUNDS):
            # Who goes first alternates.
            for name, work in sides if round_ % 2 == 0 else sides[::-1]:
                rates[name].append(await rate_for(CONCURRENT_SECONDS, work, writers=WRITERS))
    finally:
        await pool.close()
        await engine.dispose()
    return {name: median(values) for name, values in rates.items()}


def eventsourcing_postgres_env(url: str) -> dict[str, str]:
    parsed = make_url(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parsed.database),
        "POSTGRES_HOST": parsed.host or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": parsed.username or "postgres",
        "POSTGRES_PASSWORD": parsed.password or "",
    }


async def run(report: Report, postgres_missing: str | None) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="rapport-bench-") as scratch,
        sqlite_synchronous_normal(),
    ):
        sqlite = await serial_ratio(
            f"sqlite+aiosqlite:///{Path(scratch) / 'rapport.db'}",
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(Path(scratch) / "eventsourcing.db"),
            },
            floor=sqlite_floor(Path(scratch) / "floor.db"),
        )
    report.set("append_ratio_vs_eventsourcing_sqlite", sqlite.pop("ratio"))
    report.note(
        "append_sqlite",
        **sqlite,
        durability="WAL, synchronous=NORMAL on every side",
        floor="floor_per_s: the same rows, inserts and commit on a bare sqlite3 connection",
    )
    if postgres_missing:
        report.skip(
            ["append_ratio_vs_eventsourcing_postgres", "append_concurrent_ratio_vs_raw_postgres"],
            postgres_missing,
        )
        return
    async with scratch_postgres() as rapport_url, scratch_postgres() as library_url:
        postgres = await serial_ratio(rapport_url, eventsourcing_postgres_env(library_url))
    report.set("append_ratio_vs_eventsourcing_postgres", postgres.pop("ratio"))
    report.note("append_postgres", **postgres)
    async with scratch_postgres() as rapport_url, scratch_postgres() as raw_url:
        rates = await concurrent_rates(rapport_url, raw_url)
    report.set(
        "append_concurrent_ratio_vs_raw_postgres",
        rates["rapport_per_s"] / rates["raw_asyncpg_per_s"],
    )
    report.note(
        "append_concurrent_postgres",
        writers=WRITERS,
        rounds=CONCURRENT_ROUNDS,
        **{name: round(rate) for name, rate in rates.items()},
    )
