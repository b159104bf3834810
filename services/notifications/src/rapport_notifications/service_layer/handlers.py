"""What the service does when something happens: goals' homework events (called by the consumer,
inside its batch transaction), a delivery's outcome (called by the scheduler) and a recipient's
new address (called by the API). Each handler loads an aggregate, lets the domain decide, and
appends the events and updates the read model on the caller's connection, atomically."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications import projections
from rapport_notifications.domain.model import (
    HOMEWORK_DUE,
    Homework,
    Reminder,
    RetryPolicy,
    homework_stream,
    reminder_id_for,
    reminder_stream,
)
from rapport_notifications.tables import delivery_claims, recipients, upsert
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import HomeworkAssigned, HomeworkCompleted
from rapport_shared.envelope import IncomingEvent
from rapport_shared.eventstore import EventStore


async def on_homework_assigned(
    conn: AsyncConnection, incoming: IncomingEvent, *, store: EventStore, lead: timedelta
) -> None:
    assignment = incoming.contract
    assert isinstance(assignment, HomeworkAssigned)
    stream = homework_stream(assignment.homework_id)
    history = await _history(conn, store, stream)
    follow_up = Homework.replay(assignment.homework_id, history).assign(
        assignment, datetime.now(UTC), lead
    )
    await _append(conn, store, stream, len(history), follow_up.noted)
    await _write_reminder(conn, store, [], follow_up.new_reminder)


async def on_homework_completed(
    conn: AsyncConnection, incoming: IncomingEvent, *, store: EventStore
) -> None:
    completion = incoming.contract
    assert isinstance(completion, HomeworkCompleted)
    now = datetime.now(UTC)
    stream = homework_stream(completion.homework_id)
    history = await _history(conn, store, stream)
    follow_up = Homework.replay(completion.homework_id, history).complete(completion, now)
    await _append(conn, store, stream, len(history), follow_up.noted)
    await _write_reminder(conn, store, [], follow_up.new_reminder)
    due = await _history(
        conn, store, reminder_stream(reminder_id_for(completion.homework_id, HOMEWORK_DUE))
    )
    if due:
        await _write_reminder(conn, store, due, Reminder.replay(due).cancel(now))


async def record_delivery(
    conn: AsyncConnection,
    reminder_id: UUID,
    failure: str | None,
    *,
    store: EventStore,
    policy: RetryPolicy,
) -> None:
    """failure is None when the reminder was delivered, else why the attempt failed."""
    now = datetime.now(UTC)
    history = await _history(conn, store, reminder_stream(reminder_id))
    reminder = Reminder.replay(history)
    if failure is None:
        events = reminder.record_sent(now)
    else:
        events = reminder.record_failed_attempt(failure, now, policy)
    await _write_reminder(conn, store, history, events)
    await conn.execute(delete(delivery_claims).where(delivery_claims.c.reminder_id == reminder_id))


async def set_recipient_email(
    conn: AsyncConnection, clinic_id: str, recipient_id: str, email: str
) -> None:
    await upsert(
        conn,
        recipients,
        {
            "clinic_id": clinic_id,
            "recipient_id": recipient_id,
            "email": email,
            "updated_at": datetime.now(UTC),
        },
        key=["clinic_id", "recipient_id"],
    )


async def _history(conn: AsyncConnection, store: EventStore, stream: str) -> list[EventContract]:
    return [stored.event for stored in await store.load(conn, stream)]


async def _append(
    conn: AsyncConnection,
    store: EventStore,
    stream: str,
    expected_version: int,
    events: list[EventContract],
) -> None:
    if events:
        await store.append(conn, stream, expected_version, events)


async def _write_reminder(
    conn: AsyncConnection,
    store: EventStore,
    history: list[EventContract],
    events: list[EventContract],
) -> None:
    """Append a reminder's new events after its history ([] for a new reminder: version 0, so a
    second writer of the same derived id gets a conflict) and update its read-model row."""
    if not events:
        return
    reminder = Reminder.replay([*history, *events])
    await store.append(conn, reminder_stream(reminder.reminder_id), len(history), events)
    await projections.project(conn, reminder)
