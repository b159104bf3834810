"""The delivery loop: claim the reminders that are due, prepare each (quiet hours, channels),
send it on each of its channels, record the outcomes.

Sending happens outside any transaction (an SMTP exchange or an HTTP call must not hold database
locks); the claim taken before it keeps this and any other process from sending the same reminder
again. The in-app feed needs no sending: its item is written when the outcome is recorded.

A round needs several transactions (the claim, then one per outcome, none while sending), so it
is given the runtime's way to open one (ServiceRuntime.transaction, which also wakes the relay
for the events recorded) rather than a connection; the handlers it calls take the connection.
"""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.delivery_queue import DueReminder, claim_due
from rapport_notifications.domain.messages import Message, render
from rapport_notifications.domain.model import Failure, RetryPolicy
from rapport_notifications.email_channel import DeliveryFailed, EmailChannel
from rapport_notifications.service_layer.handlers import prepare_delivery, record_delivery
from rapport_notifications.webhook_channel import WebhookChannel, payload
from rapport_shared.contracts.clock import utc_now
from rapport_shared.contracts.notifications import Channel
from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict, EventStore

log = structlog.get_logger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
RECORD_TRIES = 3


@dataclass(frozen=True)
class Channels:
    email: EmailChannel
    webhook: WebhookChannel


@dataclass(frozen=True)
class Outgoing:
    reminder: DueReminder
    channels: tuple[Channel, ...]
    message: Message


async def deliver_due_reminders(
    *,
    transaction: Transaction,
    store: EventStore,
    channels: Channels,
    policy: RetryPolicy,
    hold: timedelta,
    batch_size: int,
) -> int:
    """One round; returns how many reminders it claimed."""
    now = utc_now()
    outgoing = []
    async with transaction() as conn:
        due = await claim_due(conn, now, hold=hold, limit=batch_size)
        for reminder in due:
            if to_send := await prepare_delivery(conn, reminder, store=store, now=now):
                zone = reminder.contact.profile.zone
                message = render(reminder.kind, reminder.facts, reminder.client_id, zone)
                outgoing.append(Outgoing(reminder, to_send, message))
    for job in outgoing:
        outcomes = {channel: await _send(channels, job, channel) for channel in job.channels}
        reminder_id = str(job.reminder.reminder_id)
        for channel, failure in outcomes.items():
            if failure is not None:
                log.warning(
                    "reminder not delivered",
                    reminder_id=reminder_id,
                    channel=channel,
                    reason=failure.reason,
                )
        if any(failure is None for failure in outcomes.values()):
            log.info("reminder delivered", reminder_id=reminder_id)
        await _record(transaction, store, policy, job, outcomes)
    return len(due)


async def _send(channels: Channels, job: Outgoing, channel: Channel) -> Failure | None:
    reminder, contact = job.reminder, job.reminder.contact
    try:
        match channel:
            case "feed":
                return None  # written with the outcome
            case "email":
                if contact.email is None:
                    return Failure("no-address", "no email address on file")
                await channels.email.send(
                    to=contact.email,
                    message=job.message,
                    reference=f"reminder-{reminder.reminder_id}",
                )
            case "webhook":
                if contact.webhook_url is None or contact.webhook_secret is None:
                    return Failure("no-webhook", "no webhook on file")
                body = payload(
                    kind=reminder.kind,
                    reminder_id=str(reminder.reminder_id),
                    recipient_id=reminder.recipient_id,
                    message=job.message,
                    now=utc_now(),
                )
                await channels.webhook.send(
                    url=contact.webhook_url,
                    secret=contact.webhook_secret,
                    message_id=f"reminder-{reminder.reminder_id}",
                    body=body,
                )
    except DeliveryFailed as error:
        return error.failure
    return None


async def _record(
    transaction: Transaction,
    store: EventStore,
    policy: RetryPolicy,
    job: Outgoing,
    outcomes: dict[Channel, Failure | None],
) -> None:
    # The outcome must not be lost once a message went out, or the lapsed claim would send it
    # again: a cancellation appended meanwhile (PostgreSQL) only means deciding on fresh history.
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            async with transaction() as conn:
                await record_delivery(
                    conn,
                    job.reminder.reminder_id,
                    outcomes,
                    job.message,
                    store=store,
                    policy=policy,
                    now=utc_now(),
                )
            return
        except ConcurrencyConflict:
            if attempt == RECORD_TRIES:
                raise
