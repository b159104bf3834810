"""The reminders read model: one row per reminder with its status (pending / sent / cancelled /
failed), built from this service's own events.

Live, a row is written in the transaction that appends the reminder's events; a rebuild replays
the whole event store. Both fold a reminder's history with the domain's Reminder.replay, so the
status rules (sent wins over a later cancel) live in one place.
"""

from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_notifications.domain.model import REMINDER_EVENTS, Reminder
from rapport_notifications.tables import as_utc, reminders, upsert
from rapport_shared.contracts.base import EventContract
from rapport_shared.eventstore import EventStore
from rapport_shared.projection import insert_rows

REBUILD_BATCH = 5000


def _row(reminder: Reminder) -> dict[str, Any]:
    return {
        "reminder_id": reminder.reminder_id,
        "clinic_id": reminder.clinic_id,
        "recipient_id": reminder.recipient_id,
        "kind": reminder.kind,
        "homework_id": reminder.homework_id,
        "due_at": as_utc(reminder.due_at),
        "message": reminder.message,
        "status": reminder.status.value,
        "attempts": reminder.attempts,
        "next_attempt_at": as_utc(reminder.next_attempt_at),
        "sent_at": reminder.sent_at and as_utc(reminder.sent_at),
        "failure_reason": reminder.failure_reason,
    }


async def project(conn: AsyncConnection, reminder: Reminder) -> None:
    await upsert(conn, reminders, _row(reminder), key=["reminder_id"])


async def rebuild(engine: AsyncEngine, store: EventStore) -> None:
    """Clear the read model and replay every event into it (operators: `rapport rebuild
    notifications.reminders`)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Writers that commit while the replay reads would be overwritten with older state;
            # made to wait, they write their reminder's full state after the rebuild. (SQLite
            # transactions exclude each other anyway.)
            await conn.execute(text("LOCK TABLE reminders IN EXCLUSIVE MODE"))
        await conn.execute(delete(reminders))
        histories: dict[str, list[EventContract]] = {}
        after = 0
        while batch := await store.replay(conn, after, REBUILD_BATCH):
            for replayed in batch:
                if isinstance(replayed.event, REMINDER_EVENTS):
                    histories.setdefault(replayed.stream_id, []).append(replayed.event)
            after = batch[-1].position
        # The table is empty: plain inserts, many per statement, instead of an upsert each.
        rows = (_row(Reminder.replay(history)) for history in histories.values())
        await insert_rows(conn, reminders, rows)
