"""Claiming due reminders: replicas claiming side by side never take the same reminder."""

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from rapport_notifications.bootstrap import MIGRATIONS
from rapport_notifications.delivery_queue import claim_due
from rapport_notifications.tables import reminders
from rapport_shared.persistence import db, migrations

DUE = 2000
CLAIMERS = 4
HOLD = timedelta(minutes=10)


async def test_replicas_claiming_at_once_never_claim_a_reminder_twice(database_url):
    # Each claimer is a replica with its own engine. A claim committed while another replica's
    # claim query is already running must still keep that replica off the reminder.
    engines = [db.create_engine(database_url) for _ in range(CLAIMERS)]
    try:
        await migrations.migrate(engines[0], MIGRATIONS)
        now = datetime.now(UTC)
        async with engines[0].begin() as conn:
            await conn.execute(
                reminders.insert(),
                [
                    {
                        "reminder_id": uuid.uuid4(),
                        "clinic_id": "northside",
                        "recipient_id": f"c{n % 20}",
                        "kind": "homework-due",
                        "due_at": now,
                        "status": "pending",
                        "awaiting_delivery": True,
                        "attempts": 0,
                        "next_attempt_at": now - timedelta(seconds=n % 7),
                    }
                    for n in range(DUE)
                ],
            )

        async def claim_until_none_left(engine) -> list[uuid.UUID]:
            claimed: list[uuid.UUID] = []
            while True:
                async with engine.begin() as conn:
                    due = await claim_due(conn, datetime.now(UTC), hold=HOLD, limit=20)
                if not due:
                    return claimed
                claimed += [reminder.reminder_id for reminder in due]

        claims = await asyncio.gather(*(claim_until_none_left(e) for e in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    counted = Counter(reminder_id for claimed in claims for reminder_id in claimed)
    assert len(counted) == DUE
    assert [n for n in counted.values() if n > 1] == []


async def test_an_urgent_reminder_is_claimed_before_a_backlog_of_ordinary_ones_due_earlier(
    database_url,
):
    engine = db.create_engine(database_url)
    try:
        await migrations.migrate(engine, MIGRATIONS)
        now = datetime.now(UTC)

        def row(kind: str, due_at: datetime) -> dict:
            return {
                "reminder_id": uuid.uuid4(),
                "clinic_id": "northside",
                "recipient_id": "dr-okafor",
                "kind": kind,
                "due_at": due_at,
                "status": "pending",
                "awaiting_delivery": True,
                "attempts": 0,
                "next_attempt_at": due_at,
            }

        backlog = [row("homework-due", now - timedelta(minutes=n)) for n in range(1, 51)]
        alert = row("risk-alert", now)
        async with engine.begin() as conn:
            await conn.execute(reminders.insert(), [*backlog, alert])
        async with engine.begin() as conn:
            first = await claim_due(conn, now, hold=HOLD, limit=20)
        async with engine.begin() as conn:
            second = await claim_due(conn, now, hold=HOLD, limit=20)
    finally:
        await engine.dispose()
    # The alert first, then the oldest of the backlog (in the order the join gives them).
    oldest_first = [r["reminder_id"] for r in reversed(backlog)]
    assert first[0].reminder_id == alert["reminder_id"]
    assert {r.reminder_id for r in first[1:]} == set(oldest_first[:19])
    assert {r.reminder_id for r in second} == set(oldest_first[19:39])
