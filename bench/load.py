"""HTTP load on the running suite: preparing sessions and homework, the closed-loop command mix
(32 clients, close-session and complete-homework), and the open-loop end-to-end latency run
(close-session at a steady rate until its plan shows up in the goals service's projection)."""

import asyncio
import gc
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import CLINIC, percentile
from bench.httpclient import HttpClient, service_client

BASE = f"/clinics/{CLINIC}"
CLIENTS = 32


def _soon(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def plan(homework: bool) -> dict[str, Any]:
    """The closing step: one agreed goal, and homework serving it when asked for."""
    body: dict[str, Any] = {
        "next_session_at": _soon(7),
        "goals": [
            {
                "description": "Walk for twenty minutes after lunch",
                "measure": "days walked per week",
                "target": "5 days a week",
                "due_date": "2030-01-01",
            }
        ],
    }
    if homework:
        body["homework"] = [
            {"instructions": "Log every walk in the diary", "due_at": _soon(6), "goal_index": 0}
        ]
    return body


async def in_parallel(
    port: int, requests: Iterable[tuple[str, str, Any]], clients: int = CLIENTS
) -> None:
    """Send every request (method, path, body) with `clients` connections; all must succeed."""
    pending = list(requests)
    pending.reverse()

    async def worker() -> None:
        client = service_client(port)
        try:
            while pending:
                method, path, body = pending.pop()
                await client.json(method, path, body)
        finally:
            await client.close()

    await asyncio.gather(*(worker() for _ in range(clients)))


async def schedule_sessions(port: int, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    await in_parallel(
        port,
        (
            (
                "POST",
                f"{BASE}/sessions",
                {
                    "session_id": session_id,
                    "client_id": f"client-{n % 200}",
                    "counselor_id": "counselor-1",
                    "starts_at": _soon(-0.1),
                },
            )
            for n, session_id in enumerate(ids)
        ),
    )
    return ids


async def assign_homework(port: int, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    await in_parallel(
        port,
        (
            (
                "POST",
                f"{BASE}/homework",
                {
                    "homework_id": homework_id,
                    "client_id": f"client-{n % 200}",
                    "counselor_id": "counselor-1",
                    "instructions": "Note one pleasant moment each day",
                    "due_at": _soon(5),
                },
            )
            for n, homework_id in enumerate(ids)
        ),
    )
    return ids


async def set_recipients(port: int, count: int = 200) -> None:
    """Email addresses for the clients, so recognitions go out instead of failing."""
    await in_parallel(
        port,
        (
            ("PUT", f"{BASE}/recipients/client-{n}", {"email": f"client-{n}@example.org"})
            for n in range(count)
        ),
        clients=4,
    )


async def command_mix(
    sessions_port: int, goals_port: int, sessions: list[str], homework: list[str], seconds: float
) -> dict[str, Any]:
    """CLIENTS closed-loop clients alternate close-session and complete-homework commands."""
    commands: list[tuple[int, str, Any]] = []
    for session_id, homework_id in zip(sessions, homework, strict=False):
        commands.append((goals_port, f"{BASE}/homework/{homework_id}/complete", {}))
        commands.append((sessions_port, f"{BASE}/sessions/{session_id}/close", plan(True)))
    commands.reverse()
    latencies: list[float] = []
    errors: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        clients = {port: service_client(port) for port in (sessions_port, goals_port)}
        try:
            while commands and time.perf_counter() < deadline:
                port, path, body = commands.pop()
                sent = time.perf_counter()
                status, _ = await clients[port].request("POST", path, body)
                latencies.append(time.perf_counter() - sent)
                if status >= 300:
                    errors[status] = errors.get(status, 0) + 1
        finally:
            for client in clients.values():
                await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    return {
        "commands": len(latencies),
        "seconds": round(elapsed, 2),
        "commands_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors,
        "ran_out_of_prepared_commands": not commands and time.perf_counter() < deadline,
    }


class ProjectionWatcher(threading.Thread):
    """Notes when each wanted session's goal first appears in the goals service's progress
    projection, reading its SQLite file (read-only, WAL: no reader blocks the service)."""

    def __init__(self, database: Path, wanted: set[str], interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.database, self.wanted, self.interval = database, wanted, interval
        self.seen: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, isolation_level=None)
        try:
            last = conn.execute("SELECT coalesce(max(rowid), 0) FROM goal_progress").fetchone()[0]
            while not self.stopping.is_set():
                rows = conn.execute(
                    "SELECT rowid, session_id FROM goal_progress WHERE rowid > ?", (last,)
                ).fetchall()
                now = time.perf_counter()
                for rowid, session_id in rows:
                    last = max(last, rowid)
                    key = str(session_id).replace("-", "")
                    if key in self.wanted and key not in self.seen:
                        self.seen[key] = now
                time.sleep(self.interval)
        finally:
            conn.close()


async def end_to_end(
    sessions_port: int,
    goals_database: Path,
    sessions: list[str],
    rate: float,
    warm_up_seconds: float,
    drain_seconds: float,
) -> dict[str, Any]:
    """Open loop: command i is due at start + i/rate whatever happened to the others, and its
    latency counts from that due time (no coordinated omission) until the goal it agreed is in
    the goals service's projection. The first warm_up_seconds of commands are not counted."""
    # The load generator's own full collection (it holds ~150,000 objects by now) would stop
    # its sender and its watcher for up to 100 ms, and add that to every command in flight: a
    # pause of the measuring tool, not of the suite. Frozen, they are not walked again.
    gc.collect()
    gc.freeze()
    keys = {session_id.replace("-", ""): session_id for session_id in sessions}
    watcher = ProjectionWatcher(goals_database, set(keys))
    watcher.start()
    idle: list[HttpClient] = []  # a command finding no idle connection opens one: open loop
    opened = 0
    due: dict[str, float] = {}
    errors: dict[int, int] = {}
    written: list[float] = []
    answered: dict[str, float] = {}

    async def close(session_id: str) -> None:
        nonlocal opened
        if idle:
            client = idle.pop()
        else:
            client, opened = service_client(sessions_port), opened + 1
        written.append(time.perf_counter())
        try:
            status, _ = await client.request(
                "POST", f"{BASE}/sessions/{session_id}/close", plan(False)
            )
            answered[session_id.replace("-", "")] = time.perf_counter()
            if status >= 300:
                errors[status] = errors.get(status, 0) + 1
        finally:
            idle.append(client)

    await asyncio.sleep(0.1)  # the watcher has read its starting point
    start = time.perf_counter() + 0.05
    sending = []
    for n, session_id in enumerate(sessions):
        due[session_id.replace("-", "")] = moment = start + n / rate
        await asyncio.sleep(max(0.0, moment - time.perf_counter()))
        sending.append(asyncio.create_task(close(session_id)))
    await asyncio.gather(*sending)
    offered_per_s = (len(written) - 1) / (max(written) - min(written)) if len(written) > 1 else 0
    drain_deadline = time.perf_counter() + drain_seconds
    while len(watcher.seen) < len(keys) and time.perf_counter() < drain_deadline:  # noqa: ASYNC110 - the watcher is a thread
        await asyncio.sleep(0.05)
    watcher.stopping.set()
    watcher.join()
    for client in idle:
        await client.close()

    counted = [key for key in due if due[key] >= start + warm_up_seconds]
    latencies = [watcher.seen[key] - due[key] for key in counted if key in watcher.seen]
    missing = len(counted) - len(latencies)
    # Where the time goes: until the sessions service's answer arrived, and from then until the
    # goal was visible (negative when the goals service had it before the answer came back).
    answers = [answered[key] - due[key] for key in counted if key in answered]
    both = [key for key in counted if key in answered and key in watcher.seen]
    after = [watcher.seen[key] - answered[key] for key in both]
    return {
        "commands": len(sessions),
        "offered_per_s": round(offered_per_s, 1),
        "connections": opened,
        "counted": len(counted),
        "not_visible_within_drain": missing,
        "p50_ms": percentile(latencies, 0.50) * 1000 if latencies and not missing else None,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies and not missing else None,
        "max_ms": max(latencies) * 1000 if latencies else None,
        "answer_p50_ms": percentile(answers, 0.50) * 1000 if answers else None,
        "answer_p99_ms": percentile(answers, 0.99) * 1000 if answers else None,
        "visible_after_answer_p50_ms": percentile(after, 0.50) * 1000 if after else None,
        "visible_after_answer_p99_ms": percentile(after, 0.99) * 1000 if after else None,
        "errors": errors,
    }
