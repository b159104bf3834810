"""The reminders read model: one row per reminder with its status (pending / sent / cancelled /
failed), and one per planned channel with that channel's outcome, built from this service's own
events.

Live, the rows are written in the transaction that appends the reminder's events; a rebuild
replays the whole event store. Both fold a reminder's history with the domain's
Reminder.from_history, so the status rules (sent wins over a later cancel) live in one place.
Reminders of an erased client are never projected again.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications import erasure
from rapport_notifications.domain.model import REMINDER_EVENTS, Reminder, ReminderStatus
from rapport_notifications.tables import deliveries, reminders, upsert
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.clock import to_utc
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.eventsourcing.projection import Update, execute
from rapport_shared.persistence.driver_sql import insert_rows
from rapport_shared.runtime.service import ServiceRuntime

REBUILD_BATCH = 5000


def _row(reminder: Reminder) -> dict[str, Any]:
    sent = sorted(reminder.sent.values())
    return {
        "reminder_id": reminder.reminder_id,
        "clinic_id": reminder.clinic_id,
        "recipient_id": reminder.recipient_id,
        "kind": reminder.kind,
        "homework_id": reminder.about.homework_id,
        "session_id": reminder.about.session_id,
        "goal_id": reminder.about.goal_id,
        "alert_id": reminder.about.alert_id,
        "client_id": reminder.about.client_id,
        "due_at": to_utc(reminder.due_at),
        "facts": reminder.facts.model_dump(mode="json", exclude_none=True),
        "status": reminder.status.value,
        "awaiting_delivery": reminder.awaiting_delivery,
        "attempts": reminder.total_attempts,
        "next_attempt_at": to_utc(reminder.next_attempt_at),
        "sent_at": to_utc(sent[0]) if sent else None,
        "failure_reason": next(iter(reminder.failed.values()), None),
    }


def _delivery_rows(reminder: Reminder) -> list[dict[str, Any]]:
    rows = []
    for channel in reminder.channels or ():
        if channel in reminder.sent:
            status = ReminderStatus.SENT
        elif channel in reminder.failed:
            status = ReminderStatus.FAILED
        elif reminder.cancelled:
            status = ReminderStatus.CANCELLED
        else:
            status = ReminderStatus.PENDING
        sent_at = reminder.sent.get(channel)
        rows.append(
            {
                "reminder_id": reminder.reminder_id,
                "channel": channel,
                "status": status.value,
                "attempts": reminder.attempts.get(channel, 0),
                "sent_at": sent_at and to_utc(sent_at),
                "failure_reason": reminder.failed.get(channel),
            }
        )
    return rows


async def project(conn: AsyncConnection, reminder: Reminder, *, new: bool) -> bool:
    """A new reminder's row is inserted; a known one's is updated only if it is still there, so
    an outcome recorded after its client was erased (a delivery in flight) brings nothing back.
    False when there was no row to update."""
    row = _row(reminder)
    if new:
        await upsert(conn, reminders, row, key=["reminder_id"])
    else:
        if await execute(conn, Update(reminders, reminder.reminder_id, row)) == 0:
            return False
    await _write_deliveries(conn, reminder)
    return True


async def _write_deliveries(conn: AsyncConnection, reminder: Reminder) -> None:
    if rows := _delivery_rows(reminder):
        await upsert(conn, deliveries, rows, key=["reminder_id", "channel"])


async def replay(conn: AsyncConnection, runtime: ServiceRuntime[EventStore]) -> None:
    """Replay every event into the emptied tables (ServiceRuntime.add_projection empties them
    and holds off live writers, which then write their reminder's full state on top)."""
    histories: dict[str, list[EventContract]] = {}
    after = 0
    while batch := await runtime.store.replay(conn, after, REBUILD_BATCH):
        for replayed in batch:
            if isinstance(replayed.event, REMINDER_EVENTS):
                histories.setdefault(replayed.stream_id, []).append(replayed.event)
        after = batch[-1].position
    erased = await erasure.erased_clients(conn)
    kept = [
        reminder
        for reminder in (Reminder.from_history(history) for history in histories.values())
        if (reminder.clinic_id, reminder.about.client_id) not in erased
    ]
    # The table is empty: plain inserts, many per statement, instead of an upsert each.
    await insert_rows(conn, reminders, (_row(reminder) for reminder in kept))
    for reminder in kept:
        await _write_deliveries(conn, reminder)
