"""A consumer's batch (handlers.begin_batch: histories and erasures read up front) must leave
exactly what applying its events one by one (handlers.on_event) leaves: the same events on the
same streams, the same reminders and deliveries, including events on the same stream within one
batch, repeated facts, and clients erased before or within the batch."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from notifications_support import CLINIC, assignment
from sqlalchemy import delete, select

from rapport_devtools.testing import incoming
from rapport_notifications.bootstrap import MIGRATIONS, build_registry
from rapport_notifications.service_layer import handlers
from rapport_notifications.tables import deliveries, reminders
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.goals import GoalAgreed, HomeworkCompleted
from rapport_shared.contracts.sessions import (
    ClientErased,
    NoteSigned,
    SessionCancelled,
    SessionClosed,
    SessionScheduled,
)
from rapport_shared.eventsourcing.crypto import KeyRing, client_keys
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.migrations import migrate
from rapport_shared.persistence.schema import events_table, outbox_table

# Lead times that keep every reminder's due time away from "now", so both runs decide alike.
TIMING = handlers.Timing(
    homework_lead=timedelta(hours=1),
    session_lead=timedelta(hours=2),
    unsigned_note_after=timedelta(days=2),
)
DAY = timedelta(days=1)


def events() -> tuple[list[EventContract], list[EventContract]]:
    """What comes before the batch (in a transaction of its own), and the batch."""
    at = datetime.now(UTC) + 10 * DAY
    s1, s2, s3 = uuid4(), uuid4(), uuid4()

    def scheduled(session_id: Any, client: str, starts: datetime) -> SessionScheduled:
        return SessionScheduled(
            clinic_id=CLINIC,
            session_id=session_id,
            client_id=client,
            counselor_id="k1",
            starts_at=starts,
        )

    def closed(session_id: Any, client: str) -> SessionClosed:
        return SessionClosed(
            clinic_id=CLINIC,
            session_id=session_id,
            client_id=client,
            counselor_id="k1",
            closed_at=datetime.now(UTC),
            next_session_at=at + DAY,
        )

    def erased(client: str) -> ClientErased:
        return ClientErased(
            clinic_id=CLINIC, client_id=client, erased_by="admin", erased_at=datetime.now(UTC)
        )

    homework = assignment(client_id="c2", due_in=5 * DAY)
    goal = GoalAgreed(
        clinic_id=CLINIC,
        goal_id=uuid4(),
        client_id="c2",
        counselor_id="k1",
        due_date=date.today() + timedelta(days=30),
        agreed_at=datetime.now(UTC),
        review_every_days=7,
    )
    before = [erased("gone"), scheduled(s3, "c1", at + 3 * DAY)]
    batch: list[EventContract] = [
        scheduled(s1, "c1", at),
        closed(s1, "c1"),
        closed(s1, "c1"),  # a second closing of the same session: nothing new
        NoteSigned(
            clinic_id=CLINIC,
            session_id=s1,
            client_id="c1",
            counselor_id="k1",
            signed_by="k1",
            signed_at=datetime.now(UTC),
            content_sha256="0" * 64,
        ),
        SessionCancelled(
            clinic_id=CLINIC,
            session_id=s3,
            client_id="c1",
            counselor_id="k1",
            cancelled_at=datetime.now(UTC),
            reason="other",
        ),
        homework,
        HomeworkCompleted(
            clinic_id=CLINIC,
            homework_id=homework.homework_id,
            client_id="c2",
            due_at=homework.due_at,
            completed_at=datetime.now(UTC),
        ),
        goal,
        goal,  # the same agreement again (a copy under another event id)
        scheduled(uuid4(), "gone", at),  # erased before the batch: nothing
        scheduled(s2, "c3", at),
        erased("c3"),
        closed(s2, "c3"),  # erased earlier in the batch: nothing
    ]
    return before, batch


async def _one_by_one(engine: Any, store: EventStore, batch: Sequence[IncomingEvent]) -> None:
    async with engine.begin() as conn:
        for event in batch:
            await handlers.on_event(conn, event, store=store, keys=KeyRing(), timing=TIMING)


async def _as_a_batch(engine: Any, store: EventStore, batch: Sequence[IncomingEvent]) -> None:
    async with engine.begin() as conn:
        apply = await handlers.begin_batch(conn, batch, store=store, keys=KeyRing(), timing=TIMING)
        for event in batch:
            await apply(conn, event)


async def _state(engine: Any) -> dict[str, Any]:
    """What both runs must agree on (not ids, positions or the moment of a cancellation)."""
    async with engine.connect() as conn:
        logged = await conn.execute(
            select(events_table.c.stream_id, events_table.c.version, events_table.c.event_type)
        )
        outbox = await conn.execute(select(outbox_table.c.subject))
        rows = await conn.execute(
            select(
                reminders.c.reminder_id,
                reminders.c.kind,
                reminders.c.recipient_id,
                reminders.c.status,
                reminders.c.due_at,
            )
        )
        channels = await conn.execute(
            select(deliveries.c.reminder_id, deliveries.c.channel, deliveries.c.status)
        )
        erased = await conn.execute(
            select(client_keys.c.clinic_id, client_keys.c.client_id).where(
                client_keys.c.erased_at.is_not(None)
            )
        )
        return {
            "events": sorted(logged.all()),
            "outbox": sorted(outbox.scalars()),
            # A recognition is due at once: when each run happened to apply it.
            "reminders": sorted(
                (*row[:4], None if row[1] == "recognition" else row[4]) for row in rows
            ),
            "deliveries": sorted(channels.all()),
            "erased": sorted(erased.all()),
        }


async def _clear(engine: Any) -> None:
    async with engine.begin() as conn:
        for table in (outbox_table, events_table, deliveries, reminders, client_keys):
            await conn.execute(delete(table))


async def test_a_batch_leaves_what_one_by_one_leaves(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, MIGRATIONS)
        store = EventStore(build_registry())
        before, batch = events()
        results = []
        for apply in (_one_by_one, _as_a_batch):
            await _clear(engine)
            await _one_by_one(engine, store, [incoming(event) for event in before])
            await apply(engine, store, [incoming(event) for event in batch])
            results.append(await _state(engine))
        one_by_one, as_a_batch = results
        assert as_a_batch == one_by_one
        # It is a real test: reminders were scheduled and cancelled, and c3's were purged.
        statuses = {row[3] for row in one_by_one["reminders"]}
        assert statuses == {"pending", "cancelled"}
        assert not [row for row in one_by_one["reminders"] if row[2] in {"c3", "gone"}]
        assert len(one_by_one["erased"]) == 2
    finally:
        await engine.dispose()
