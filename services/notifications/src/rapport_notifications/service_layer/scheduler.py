"""The delivery loop: claim the reminders that are due, send each by email, record the outcome.

Sending happens outside any transaction (an SMTP exchange must not hold database locks); the
claim taken before it keeps this and any other process from sending the same reminder again.
"""

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.delivery_queue import DueReminder, claim_due
from rapport_notifications.domain.messages import SUBJECTS
from rapport_notifications.domain.model import RetryPolicy
from rapport_notifications.email_channel import DeliveryFailed, EmailChannel
from rapport_notifications.service_layer.handlers import record_delivery
from rapport_shared.eventstore import ConcurrencyConflict, EventStore

log = structlog.get_logger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
NO_EMAIL = "no email address on file"
RECORD_TRIES = 3


async def run_every(interval: float, work: Callable[[], Awaitable[int]]) -> None:
    while True:
        try:
            await work()
        except Exception:  # noqa: BLE001 - e.g. the database is briefly unavailable: next tick
            log.exception("delivery round failed")
        await asyncio.sleep(interval)


async def deliver_due_reminders(
    *,
    transaction: Transaction,
    store: EventStore,
    channel: EmailChannel,
    policy: RetryPolicy,
    hold: timedelta,
    batch_size: int,
) -> int:
    """One round; returns how many reminders it attempted."""
    async with transaction() as conn:
        due = await claim_due(conn, datetime.now(UTC), hold=hold, limit=batch_size)
    for reminder in due:
        failure = await _send(channel, reminder)
        if failure is not None:
            log.warning(
                "reminder not delivered", reminder_id=str(reminder.reminder_id), reason=failure
            )
        else:
            log.info("reminder delivered", reminder_id=str(reminder.reminder_id))
        await _record(transaction, store, policy, reminder, failure)
    return len(due)


async def _send(channel: EmailChannel, reminder: DueReminder) -> str | None:
    if reminder.email is None:
        return NO_EMAIL
    try:
        await channel.send(
            to=reminder.email,
            subject=SUBJECTS[reminder.kind],
            body=reminder.message,
            reference=f"reminder-{reminder.reminder_id}",
        )
    except DeliveryFailed as error:
        return error.reason
    return None


async def _record(
    transaction: Transaction,
    store: EventStore,
    policy: RetryPolicy,
    reminder: DueReminder,
    failure: str | None,
) -> None:
    # The outcome must not be lost once an email went out, or the lapsed claim would send it
    # again: a cancellation appended meanwhile (PostgreSQL) only means deciding on fresh history.
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            async with transaction() as conn:
                await record_delivery(
                    conn, reminder.reminder_id, failure, store=store, policy=policy
                )
            return
        except ConcurrencyConflict:
            if attempt == RECORD_TRIES:
                raise
