"""The sessions-notes consumer applies a fetched batch of goals events at once: the projection
must end up exactly as when the same events are applied one at a time."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from rapport_sessions.bootstrap import MIGRATIONS
from rapport_sessions.domain.events import sessions_registry
from rapport_sessions.service_layer.handlers import (
    update_notes_projection,
    update_notes_projection_batch,
)
from rapport_sessions.tables import PROJECTION_TABLES
from rapport_shared.contracts import envelope
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.goals import (
    AllianceAlertRaised,
    GoalAgreed,
    GoalReviewed,
    GoalStatusChanged,
    HomeworkAssigned,
    HomeworkCancelled,
    HomeworkCompleted,
    HomeworkMissed,
    MeasureAskClosed,
    MeasureRecorded,
    MeasureRequested,
    PlanItemRefused,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.migrations import migrate

CLINIC = "northside"
T0 = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)


def goals_events(client: str) -> list[EventContract]:
    """A client's goals events as they may arrive: a completion before its assignment, an
    assignment delivered twice and then moved to a later due time, facts repeated."""
    goal, homework, missed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    due = T0 + timedelta(days=3)
    owner: dict[str, Any] = {"clinic_id": CLINIC, "client_id": client}
    agreed = GoalAgreed(
        **owner, goal_id=goal, counselor_id="kim", due_date=date(2030, 3, 1), agreed_at=T0
    )
    assigned = HomeworkAssigned(
        **owner,
        homework_id=homework,
        goal_id=goal,
        counselor_id="kim",
        due_at=due,
        assigned_at=T0,
    )
    refused = PlanItemRefused(
        **owner,
        session_id=uuid.uuid4(),
        counselor_id="kim",
        kind="homework",
        item_index=1,
        item_id=uuid.uuid4(),
        reason="time-zone-unknown",
        field="homework.1.recurrence.time_zone",
        refused_at=T0,
    )
    measure = MeasureRecorded(
        **owner, measure_id=uuid.uuid4(), instrument="SRS", items=(), total=30, recorded_at=T0
    )
    flag = RiskFlagRaised(
        **owner,
        flag_id=uuid.uuid4(),
        measure_id=uuid.uuid4(),
        instrument="PHQ-9",
        item=9,
        score=2,
        threshold=1,
        alert_recipient_ids=("kim",),
        raised_at=T0,
    )
    ask = MeasureRequested(
        **owner,
        ask_id=uuid.uuid4(),
        instrument="PHQ-9",
        timing="every-n-days",
        ask_at=T0,
        due_at=T0,
        deadline=due,
    )
    return [
        HomeworkCompleted(
            **owner,
            homework_id=homework,
            goal_id=goal,
            due_at=due,
            completed_at=due - timedelta(hours=1),
            self_rating=4,
        ),
        agreed,
        assigned,
        assigned,
        agreed,
        assigned.model_copy(update={"due_at": due + timedelta(days=1)}),
        GoalReviewed(
            **owner,
            goal_id=goal,
            counselor_id="kim",
            reviewed_at=T0 + timedelta(days=7),
            attained_level=1,
            achievement_status="improving",
        ),
        GoalStatusChanged(
            **owner,
            goal_id=goal,
            changed_at=T0 + timedelta(days=8),
            lifecycle_status="completed",
            achievement_status="achieved",
        ),
        HomeworkMissed(
            **owner, homework_id=missed, goal_id=goal, due_at=due, recorded_at=due + timedelta(1)
        ),
        HomeworkCancelled(**owner, homework_id=missed, cancelled_at=due),
        HomeworkAssigned(
            **owner,
            homework_id=missed,
            goal_id=None,
            counselor_id="kim",
            due_at=due,
            assigned_at=T0,
        ),
        measure,
        AllianceAlertRaised(
            **owner,
            alert_id=uuid.uuid4(),
            measure_id=measure.measure_id,
            counselor_id="kim",
            srs_total=30,
            threshold=36,
            raised_at=T0,
        ),
        refused,
        refused,  # redelivered
        # Acknowledged and closed before they are known: either order ends the same.
        RiskFlagAcknowledged(
            **owner, flag_id=flag.flag_id, acknowledged_by="kim", acknowledged_at=due
        ),
        flag,
        MeasureAskClosed(
            **owner, ask_id=ask.ask_id, instrument="PHQ-9", outcome="missed", closed_at=due
        ),
        ask,
    ]


def incoming(events: list[EventContract]) -> list[IncomingEvent]:
    registry = sessions_registry()
    found = []
    for event in events:
        message = envelope.encode(
            event,
            event_id=str(uuid.uuid4()),
            stream_id="s",
            occurred_at=T0,
            metadata={"correlation_id": "c"},
        )
        found.append(envelope.decode(message.payload, registry))
    return found


async def projection(conn: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        table.name: sorted((dict(r._mapping) for r in await conn.execute(select(table))), key=repr)
        for table in PROJECTION_TABLES
    }


async def test_a_batch_of_goals_events_projects_as_the_events_one_at_a_time(database_url):
    engine = create_engine(database_url)
    await migrate(engine, MIGRATIONS)
    # Interleaved clients, one of them erased: nothing of theirs may appear.
    events = [e for pair in zip(*map(goals_events, ("ann", "bo", "cy")), strict=True) for e in pair]
    batch = incoming(events)
    try:
        async with engine.begin() as conn:
            keys = KeyRing()
            await keys.destroy(conn, CLINIC, "bo", T0)
            for one in batch:
                await update_notes_projection(conn, one, keys=keys)
            one_at_a_time = await projection(conn)
            for table in PROJECTION_TABLES:
                await conn.execute(delete(table))
            await update_notes_projection_batch(conn, batch, keys=keys)
            together = await projection(conn)
    finally:
        await engine.dispose()
    assert together == one_at_a_time
    clients = {row["client_id"] for row in one_at_a_time["prep_goal_facts"]}
    assert clients == {"ann", "cy"}
    assert all(one_at_a_time[table.name] for table in PROJECTION_TABLES[2:])
