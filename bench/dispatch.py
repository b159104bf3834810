"""Reminder dispatch scaling: reminders per second with 3 notifications instances against 1.

The instances share one PostgreSQL database (they claim due reminders with SKIP LOCKED) and one
durable consumer; each sends as the service does (one email at a time, its built-in scheduler
settings) to an SMTP server that takes 20 ms per message. The bench plays the goals service:
it publishes homework-assigned events whose reminders all fall due at one moment T, set far
enough ahead that the instances have scheduled every reminder by then; the rate is the number
of reminders over the time from T until the last is recorded as sent.
"""

import asyncio
import importlib.util
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiosmtpd.controller import Controller

from bench.common import (
    CLINIC,
    Report,
    asyncpg_dsn,
    homework_assigned,
    running_nats,
    scratch_postgres,
    start_services,
)
from bench.httpclient import AUTH_ENV, service_client
from rapport_devtools.localsuite import ServiceProcess
from rapport_devtools.natsserver import free_port
from rapport_shared.contracts import envelope
from rapport_shared.messaging import connection

SMTP_SECONDS_PER_MESSAGE = 0.020
REMINDERS_PER_INSTANCE = 100
RECIPIENTS = 40
LEAD_SECONDS = 3600
ROUND_TIMEOUT_SECONDS = 120.0


class SlowMailbox:
    """An SMTP server's DATA handler that takes 20 ms per message, as a real relay might."""

    def __init__(self) -> None:
        self.received = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(SMTP_SECONDS_PER_MESSAGE)
        with self._lock:
            self.received += 1
        return "250 Message accepted for delivery"


def missing_reason(postgres_missing: str | None) -> str | None:
    if importlib.util.find_spec("rapport_notifications.bootstrap") is None:
        return "the notifications service does not exist yet"
    if postgres_missing:
        return f"several instances share work through PostgreSQL, and {postgres_missing}"
    return None


async def reminder_counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM reminders GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


async def one_round(js: Any, db: asyncpg.Connection, count: int, margin: float) -> dict[str, Any]:
    """Schedule `count` reminders due at T = now + margin; time them out of the door."""
    before = await reminder_counts(db)
    due_moment = datetime.now(UTC) + timedelta(seconds=margin)
    due_at_clock = time.perf_counter() + margin
    acks = []
    for n in range(count):
        event = homework_assigned(
            client=n % RECIPIENTS, due_at=due_moment + timedelta(seconds=LEAD_SECONDS)
        )
        message = envelope.encode(
            event,
            event_id=str(uuid.uuid4()),
            stream_id=f"homework-{event.homework_id}",
            occurred_at=datetime.now(UTC),
            metadata={"correlation_id": "bench-dispatch"},
        )
        acks.append(
            await js.publish_async(message.subject, message.payload, headers=message.headers)
        )
    await asyncio.gather(*acks)
    published = time.perf_counter()
    scheduled_target = sum(before.values()) + count
    while sum((await reminder_counts(db)).values()) < scheduled_target:
        if time.perf_counter() > due_at_clock + ROUND_TIMEOUT_SECONDS:
            raise TimeoutError("the instances did not schedule every reminder")
        await asyncio.sleep(0.05)
    scheduled = time.perf_counter()
    await asyncio.sleep(max(0.0, due_at_clock - time.perf_counter()))
    sent_target = before.get("sent", 0) + count
    while (counts := await reminder_counts(db)).get("sent", 0) < sent_target:
        if counts.get("failed", 0) > before.get("failed", 0):
            raise RuntimeError(f"reminders failed: {counts}")
        if time.perf_counter() > due_at_clock + ROUND_TIMEOUT_SECONDS:
            raise TimeoutError(f"not every reminder sent in time: {counts}")
        await asyncio.sleep(0.02)
    seconds = time.perf_counter() - due_at_clock
    return {
        "reminders": count,
        "seconds": round(seconds, 2),
        "reminders_per_s": count / seconds,
        "scheduling_seconds": round(scheduled - published, 2),
        "scheduled_before_due": scheduled <= due_at_clock,
    }


async def set_recipients(port: int) -> None:
    client = service_client(port)
    try:
        for n in range(RECIPIENTS):
            await client.json(
                "PUT",
                f"/clinics/{CLINIC}/recipients/client-{n}",
                {"email": f"client-{n}@example.org"},
            )
    finally:
        await client.close()


async def measure(scratch: Path, database_url: str, mailbox: SlowMailbox, smtp_port: int) -> Any:
    with running_nats(scratch / "nats") as nats:
        env = {
            **AUTH_ENV,
            "RAPPORT_NATS_URL": nats.url,
            "RAPPORT_DATA_DIR": str(scratch / "data"),
            "RAPPORT_LOG_FORMAT": "json",
            "RAPPORT_NOTIFICATIONS_DATABASE_URL": database_url,
            "RAPPORT_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "RAPPORT_NOTIFICATIONS_SMTP_PORT": str(smtp_port),
            "RAPPORT_NOTIFICATIONS_REMINDER_LEAD_SECONDS": str(LEAD_SECONDS),
        }
        instances = [
            ServiceProcess("notifications", free_port(), env, scratch / "logs" / f"n{n}.log")
            for n in range(3)
        ]
        nc = await connection.connect(nats.url, "bench-dispatch")
        db = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            js = nc.jetstream()
            await connection.ensure_stream(js, "goals")  # the bench plays the goals service
            start_services(instances[:1])
            await set_recipients(instances[0].port)
            single = await one_round(
                js, db, REMINDERS_PER_INSTANCE, 3.0 + 0.05 * REMINDERS_PER_INSTANCE
            )
            per_reminder = single["scheduling_seconds"] / REMINDERS_PER_INSTANCE
            start_services(instances[1:])  # after the first: its migrations are done
            count = 3 * REMINDERS_PER_INSTANCE
            triple = await one_round(js, db, count, 3.0 + 1.5 * per_reminder * count)
        finally:
            await db.close()
            await nc.close()
            for instance in instances:
                instance.stop()
    return single, triple


async def run(report: Report, postgres_missing: str | None) -> None:
    reason = missing_reason(postgres_missing)
    if reason:
        report.set("dispatch_scaling_3_vs_1", None, reason)
        return
    mailbox = SlowMailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with tempfile.TemporaryDirectory(prefix="rapport-bench-") as scratch:
            async with scratch_postgres() as database_url:
                single, triple = await measure(Path(scratch), database_url, mailbox, smtp.port)
    finally:
        smtp.stop()
    report.set("dispatch_scaling_3_vs_1", triple["reminders_per_s"] / single["reminders_per_s"])
    report.note(
        "dispatch",
        smtp_ms_per_message=SMTP_SECONDS_PER_MESSAGE * 1000,
        one_instance=single,
        three_instances=triple,
        emails_received=mailbox.received,
    )
