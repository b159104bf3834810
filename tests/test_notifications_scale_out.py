"""Three notifications instances share one PostgreSQL database and one durable consumer:
2,000 reminders fall due at once and every one arrives by email exactly once."""

import asyncio
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import nats
from suite_env import AUTH_ENV

from rapport_devtools.localsuite import ServiceProcess
from rapport_devtools.natsserver import free_port
from rapport_devtools.testing import (
    ClinicAdminAuth,
    create_postgres_database,
    drop_postgres_database,
    eventually,
)
from rapport_shared.contracts import envelope
from rapport_shared.contracts.goals import HomeworkAssigned
from rapport_shared.messaging import connection

REMINDERS = 2000
CLIENTS = 20
INSTANCES = 3
LEAD_SECONDS = 60
INGEST_WINDOW_SECONDS = 25  # the reminders fall due together, after all are scheduled


async def test_three_instances_deliver_2000_reminders_exactly_once(
    postgres_server_url, nats_server, smtp, tmp_path
):
    database_url = await create_postgres_database(postgres_server_url)
    env = {
        **AUTH_ENV,
        "RAPPORT_NATS_URL": nats_server.url,
        "RAPPORT_NOTIFICATIONS_DATABASE_URL": database_url,
        "RAPPORT_LOG_FORMAT": "json",
        "RAPPORT_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "RAPPORT_NOTIFICATIONS_SMTP_PORT": str(smtp.port),
        "RAPPORT_NOTIFICATIONS_REMINDER_LEAD_SECONDS": str(LEAD_SECONDS),
        "RAPPORT_NOTIFICATIONS_SCHEDULER_INTERVAL_SECONDS": "0.2",
    }
    instances = [
        ServiceProcess("notifications", free_port(), env, tmp_path / f"notifications-{i}.log")
        for i in range(INSTANCES)
    ]
    try:
        for instance in instances:
            instance.start()
        await asyncio.gather(*(asyncio.to_thread(i.wait_ready, 60) for i in instances))
        async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:
            for client in range(CLIENTS):
                put = await http.put(
                    f"{instances[client % INSTANCES].url}/clinics/northside/recipients/c{client}",
                    json={"email": f"c{client}@example.org"},
                )
                assert put.status_code == 200, put.text

        due_at = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + INGEST_WINDOW_SECONDS)
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            await connection.ensure_stream(js, "goals")  # the test plays the goals service
            acks = []
            for n in range(REMINDERS):
                message = envelope.encode(
                    HomeworkAssigned(
                        clinic_id="northside",
                        homework_id=uuid.uuid4(),
                        client_id=f"c{n % CLIENTS}",
                        counselor_id="dr-okafor",
                        instructions=f"Task {n}",
                        due_at=due_at,
                        assigned_at=datetime.now(UTC),
                    ),
                    event_id=str(uuid.uuid4()),
                    stream_id=f"homework-{n}",
                    occurred_at=datetime.now(UTC),
                    metadata={},
                )
                acks.append(
                    await js.publish_async(
                        message.subject, message.payload, headers=message.headers
                    )
                )
            await asyncio.gather(*acks)
        finally:
            await nc.close()

        async def all_delivered() -> bool:
            return len(smtp.messages) >= REMINDERS

        await eventually(all_delivered, timeout=180, interval=0.5)
        async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=30) as http:
            sent = 0
            for client in range(CLIENTS):
                body = (
                    await http.get(
                        f"{instances[0].url}/clinics/northside/recipients/c{client}/reminders"
                    )
                ).json()
                assert body["pending"] == [] and body["failed"] == []
                sent += len(body["sent"])
        assert sent == REMINDERS
    finally:
        for instance in instances:
            instance.stop()
        await drop_postgres_database(database_url)

    message_ids = Counter(
        re.search(rb"Message-ID: <([^>]+)>", content, re.IGNORECASE).group(1)
        for _, content in smtp.messages
    )
    assert len(message_ids) == REMINDERS
    assert max(message_ids.values()) == 1  # exactly once each
    # The work really was shared: more than one instance consumed events and delivered mail.
    logs = [i.log_path.read_text() for i in instances]
    # (one "events applied" line per batch committed; the per-event line is debug)
    assert sum('"events applied"' in log for log in logs) >= 2
    assert sum('"reminder delivered"' in log for log in logs) >= 2
