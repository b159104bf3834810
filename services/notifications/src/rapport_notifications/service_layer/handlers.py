"""What the service does when something happens: the sessions' and goals' events (called by the
consumers, inside their batch transaction), a delivery's preparation and outcome (called by the
scheduler), erasure, and a recipient reading their feed (called by the API). Each handler loads
an aggregate, lets the domain decide, and appends the events and updates the read model on the
caller's connection, atomically."""

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications import erasure, projections
from rapport_notifications.delivery_queue import DueReminder, release
from rapport_notifications.domain.alerts import (
    alliance_alert_reminder,
    plan_item_refused_alert,
    risk_alert_reminders,
)
from rapport_notifications.domain.goals import Goal, goal_stream
from rapport_notifications.domain.homework import Homework, homework_stream
from rapport_notifications.domain.measures import MeasureAsk, measure_ask_stream
from rapport_notifications.domain.messages import Message
from rapport_notifications.domain.model import (
    Cancellation,
    Failure,
    FollowUp,
    Reminder,
    RetryPolicy,
    reminder_stream,
)
from rapport_notifications.domain.sessions import Session, session_stream
from rapport_notifications.service_layer.reads import Erasures, Reads
from rapport_notifications.tables import delivery_errors, feed, reminders, upsert
from rapport_shared.contracts import goals, sessions
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.clock import utc_now
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.notifications import Channel, ReminderSent
from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict, EventStore
from rapport_shared.messaging.consumer import Handler


@dataclass(frozen=True)
class Timing:
    homework_lead: timedelta
    session_lead: timedelta
    unsigned_note_after: timedelta


Decide = Callable[[list[EventContract]], FollowUp]


async def on_event(
    conn: AsyncConnection,
    incoming: IncomingEvent,
    *,
    store: EventStore,
    keys: KeyRing,
    timing: Timing,
) -> None:
    """Every consumed event of the sessions and goals services: to the aggregate it concerns.
    (The consumer calls handlers with the event alone: here is where its time is read.)"""
    await _on_event(conn, incoming, Reads(store), Erasures(keys), timing, utc_now())


async def begin_batch(
    conn: AsyncConnection,
    batch: Sequence[IncomingEvent],
    *,
    store: EventStore,
    keys: KeyRing,
    timing: Timing,
) -> Handler:
    """A consumer's batch (Subscription.begin_batch): the histories of the streams its events
    concern and whether their clients are erased, read with one query each; then each event as
    on_event would apply it, each seeing what the ones before it wrote."""
    reads, erasures = Reads(store), Erasures(keys)
    events: list[Any] = [incoming.contract for incoming in batch]
    streams = [stream for event in events if (stream := _stream_of(event))]
    clients = [
        (event.clinic_id, event.client_id)
        for event in events
        if not isinstance(event, sessions.ClientErased)
    ]
    await reads.preload(conn, streams)
    await erasures.preload(conn, clients)

    async def apply(conn: AsyncConnection, incoming: IncomingEvent) -> None:
        await _on_event(conn, incoming, reads, erasures, timing, utc_now())

    return apply


def _stream_of(event: Any) -> str | None:
    """The stream of this service's own that an event is decided on (None: no history)."""
    match event:
        case (
            sessions.ClientErased()
            | goals.AllianceAlertRaised()
            | goals.PlanItemRefused()
            | goals.RiskFlagRaised()
        ):
            return None
        case (
            goals.HomeworkAssigned()
            | goals.HomeworkCompleted()
            | goals.HomeworkMissed()
            | goals.HomeworkCancelled()
        ):
            return homework_stream(event.homework_id)
        case goals.GoalAgreed() | goals.GoalRevised() | goals.GoalStatusChanged():
            return goal_stream(event.goal_id)
        case goals.MeasureRequested() | goals.MeasureAskClosed():
            return measure_ask_stream(event.ask_id)
        case _:
            return session_stream(event.session_id)


async def _on_event(
    conn: AsyncConnection,
    incoming: IncomingEvent,
    reads: Reads,
    erasures: Erasures,
    timing: Timing,
    now: datetime,
) -> None:
    event: Any = incoming.contract
    if isinstance(event, sessions.ClientErased):
        await erase_client(conn, event, reads=reads, erasures=erasures, now=now)
        return
    if await erasures.is_erased(conn, event.clinic_id, event.client_id):
        return  # an erased client's events schedule nothing
    stream = _stream_of(event)
    match event:
        case goals.AllianceAlertRaised():
            await _schedule(conn, reads, alliance_alert_reminder(event, now))
            return
        case goals.PlanItemRefused():
            await _schedule(conn, reads, plan_item_refused_alert(event, now))
            return
        case goals.RiskFlagRaised():
            for alert in risk_alert_reminders(event, now):
                await _schedule(conn, reads, alert)
            return
        case (
            goals.HomeworkAssigned()
            | goals.HomeworkCompleted()
            | goals.HomeworkMissed()
            | goals.HomeworkCancelled()
        ):
            decide = _on_homework(event, now, timing)
        case goals.GoalAgreed() | goals.GoalRevised() | goals.GoalStatusChanged():
            decide = _on_goal(event, now)
        case goals.MeasureRequested() | goals.MeasureAskClosed():
            decide = _on_measure_ask(event, now)
        case _:
            decide = _on_session(event, now, timing)
    assert stream is not None
    await _decide(conn, reads, stream, decide, now)


def _on_homework(event: Any, now: datetime, timing: Timing) -> Decide:
    def decide(history: list[EventContract]) -> FollowUp:
        homework = Homework.from_history(event.homework_id, history)
        match event:
            case goals.HomeworkAssigned():
                return homework.assign(event, now, timing.homework_lead)
            case goals.HomeworkCompleted():
                return homework.complete(event, now)
            case goals.HomeworkMissed():
                return homework.miss(event)
            case _:
                return homework.cancel(event)

    return decide


def _on_goal(event: Any, now: datetime) -> Decide:
    def decide(history: list[EventContract]) -> FollowUp:
        goal = Goal.from_history(event.goal_id, history)
        match event:
            case goals.GoalAgreed():
                return goal.agree(event, now)
            case goals.GoalRevised():
                return goal.revise(event, now)
            case _:
                return goal.change_status(event)

    return decide


def _on_measure_ask(event: Any, now: datetime) -> Decide:
    def decide(history: list[EventContract]) -> FollowUp:
        ask = MeasureAsk.from_history(event.ask_id, history)
        if isinstance(event, goals.MeasureRequested):
            return ask.request(event, now)
        return ask.close(event)

    return decide


def _on_session(event: Any, now: datetime, timing: Timing) -> Decide:
    def decide(history: list[EventContract]) -> FollowUp:
        session = Session.from_history(event.session_id, history)
        match event:
            case sessions.SessionScheduled():
                return session.scheduled(event, now, timing.session_lead)
            case sessions.SessionClosed():
                return session.close(event, now, timing.session_lead, timing.unsigned_note_after)
            case sessions.SessionCancelled():
                return session.cancel(event)
            case sessions.NoteSigned():
                return session.sign(event)
            case _:
                raise ValueError(f"no reminders follow from {event.event_type}")

    return decide


async def _decide(
    conn: AsyncConnection, reads: Reads, stream: str, decide: Decide, now: datetime
) -> None:
    history = await reads.history(conn, stream)
    follow_up = decide(history)
    if follow_up.noted:
        await reads.append(conn, stream, history, follow_up.noted)
    # Cancel before scheduling: a new plan's reminders must not be cancelled with the old ones.
    if follow_up.cancel is not None:
        await _cancel(conn, reads, follow_up.cancel, now)
    for first_events in follow_up.new_reminders:
        await _schedule(conn, reads, first_events)


async def _schedule(conn: AsyncConnection, reads: Reads, first_events: list[Any]) -> None:
    """A new reminder, unless one with its derived id exists (the same next session announced by
    session-closed and then by session-scheduled, or a redelivered alert): appending at version 0
    then conflicts, and the append's savepoint leaves the transaction usable."""
    with contextlib.suppress(ConcurrencyConflict):
        await _write_reminder(conn, reads, [], first_events)


async def _cancel(
    conn: AsyncConnection, reads: Reads, cancellation: Cancellation, now: datetime
) -> None:
    ids = set(cancellation.ids)
    if cancellation.subject_id is not None:
        found = await conn.execute(
            _AWAITING_ABOUT, {"subject": cancellation.subject_id, "kinds": cancellation.kinds}
        )
        ids.update(found.scalars())
    for reminder_id in sorted(ids):
        history = await reads.history(conn, reminder_stream(reminder_id))
        if history:
            events = Reminder.from_history(history).cancel(now, cancellation.reason)
            await _write_reminder(conn, reads, history, events)


# Built once (every completion, cancellation or closing asks it): the reminders of some
# kinds about a subject (a homework, session or goal) that still await delivery.
_AWAITING_ABOUT = select(reminders.c.reminder_id).where(
    reminders.c.awaiting_delivery.is_(True),
    reminders.c.kind.in_(bindparam("kinds", expanding=True)),
    or_(
        reminders.c.homework_id == bindparam("subject", type_=reminders.c.homework_id.type),
        reminders.c.session_id == bindparam("subject", type_=reminders.c.session_id.type),
        reminders.c.goal_id == bindparam("subject", type_=reminders.c.goal_id.type),
    ),
)


async def erase_client(
    conn: AsyncConnection,
    erased: sessions.ClientErased,
    *,
    reads: Reads,
    erasures: Erasures,
    now: datetime,
) -> None:
    """Cancel what is pending for or about the client (so reminder-cancelled tells the bus),
    then purge every row of theirs."""
    theirs = select(reminders.c.reminder_id).where(
        and_(
            reminders.c.clinic_id == erased.clinic_id,
            reminders.c.awaiting_delivery.is_(True),
            or_(
                reminders.c.client_id == erased.client_id,
                reminders.c.recipient_id == erased.client_id,
            ),
        )
    )
    ids = tuple((await conn.execute(theirs)).scalars())
    await _cancel(conn, reads, Cancellation("client-erased", ids=ids), now)
    await erasure.purge(conn, erasures.keys, erased.clinic_id, erased.client_id, now)
    erasures.erased(erased.clinic_id, erased.client_id)


async def prepare_delivery(
    conn: AsyncConnection, due: DueReminder, *, store: EventStore, now: datetime
) -> tuple[Channel, ...]:
    """Just claimed: the channels to send on now; none (and its claim released) when it falls
    in the recipient's quiet hours (deferred to their end) or they opted out of its kind
    (cancelled). An urgent kind (a risk alert) is neither: the profile gives it every channel
    and no quiet hours. The channels of a first attempt are recorded with its outcomes, so an
    ordinary delivery writes nothing here."""
    profile = due.contact.profile
    if due.planned is None:
        channels = tuple(dict.fromkeys(profile.channels_for(due.kind)))
    else:
        channels = due.open
    quiet_until = profile.quiet_until(now, due.kind)
    if quiet_until is None and channels:
        return channels
    if quiet_until is None and due.planned is not None:  # nothing left open: recorded meanwhile
        await release(conn, due.reminder_id)
        return ()
    reads = Reads(store)
    history = await reads.history(conn, reminder_stream(due.reminder_id))
    reminder = Reminder.from_history(history)
    if quiet_until is not None:
        events = reminder.defer(quiet_until, now)
    else:
        events = reminder.cancel(now, "opted-out")
    await _write_reminder(conn, reads, history, events)
    await release(conn, due.reminder_id)
    return ()


async def record_delivery(
    conn: AsyncConnection,
    reminder_id: UUID,
    outcomes: Mapping[Channel, Failure | None],
    message: Message,
    *,
    store: EventStore,
    policy: RetryPolicy,
    now: datetime,
) -> None:
    """One attempt's outcome per channel (None: delivered). Delivering to the in-app feed is
    writing its item here, with the events, so it happens exactly once."""
    reads = Reads(store)
    history = await reads.history(conn, reminder_stream(reminder_id))
    reminder = Reminder.from_history(history)
    events = reminder.record_attempt(tuple(outcomes), outcomes, now, policy)
    if not await _write_reminder(conn, reads, history, events):
        await release(conn, reminder_id)
        return  # its client was erased meanwhile: nothing of theirs is written again
    if any(isinstance(e, ReminderSent) and e.channel == "feed" for e in events):
        await upsert(
            conn,
            feed,
            {
                "item_id": reminder_id,
                "clinic_id": reminder.clinic_id,
                "recipient_id": reminder.recipient_id,
                "client_id": reminder.about.client_id,
                "kind": reminder.kind,
                "subject": message.subject,
                "body": message.body,
                "created_at": now,
            },
            key=["item_id"],
        )
    failures = [
        {
            "reminder_id": reminder_id,
            "channel": channel,
            "clinic_id": reminder.clinic_id,
            "recipient_id": reminder.recipient_id,
            "detail": failure.detail or failure.reason,
            "failed_at": now,
        }
        for channel, failure in outcomes.items()
        if failure is not None
    ]
    if failures:
        await upsert(conn, delivery_errors, failures, key=["reminder_id", "channel"])
    await release(conn, reminder_id)


async def mark_feed_read(
    conn: AsyncConnection, now: datetime, clinic_id: str, recipient_id: str, item_ids: list[UUID]
) -> int:
    """Marks the recipient's own unread items among item_ids; returns how many it marked."""
    result = await conn.execute(
        update(feed)
        .where(
            feed.c.clinic_id == clinic_id,
            feed.c.recipient_id == recipient_id,
            feed.c.item_id.in_(item_ids),
            feed.c.read_at.is_(None),
        )
        .values(read_at=now)
    )
    return result.rowcount


async def _write_reminder(
    conn: AsyncConnection,
    reads: Reads,
    history: Sequence[EventContract],
    events: Sequence[EventContract],
) -> bool:
    """Append a reminder's new events after its history ([] for a new reminder: version 0, so a
    second writer of the same derived id gets a conflict) and update its read-model rows. False
    when the reminder has no row any more (erased)."""
    if not events:
        return True
    reminder = Reminder.from_history([*history, *events])
    await reads.append(conn, reminder_stream(reminder.reminder_id), history, events)
    return await projections.project(conn, reminder, new=not history)
