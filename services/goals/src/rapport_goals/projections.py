"""The progress read model, built from this service's own events.

apply() runs in the transaction that appends the event (see service_layer.handlers.record), so
the read model never lags or diverges from the store; rebuild() replays the whole store into
empty tables and must reach the same rows.
"""

from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_goals.domain import recurrence
from rapport_goals.domain.events import GoalWorded, HomeworkInstructed
from rapport_goals.instants import as_utc, to_utc
from rapport_goals.tables import (
    PROJECTION_TABLES,
    client_homework,
    client_measures,
    goal_history,
    goal_progress,
    homework_outcomes,
)
from rapport_shared.contracts.goals import (
    AllianceAlertRaised,
    GoalAgreed,
    GoalReviewed,
    GoalRevised,
    GoalStatusChanged,
    HomeworkAssigned,
    HomeworkCancelled,
    HomeworkCompleted,
    HomeworkMissed,
    MeasureRecorded,
)
from rapport_shared.contracts.sessions import Recurrence
from rapport_shared.crypto import client_keys
from rapport_shared.eventstore import EventStore, StoredEvent

REPLAY_BATCH = 500
# A goal's terms as the history shows them (the ids and timestamps are columns of their own).
_GOAL_KEYS = {"clinic_id", "goal_id", "client_id", "agreed_at", "revised_at", "revised_by"}


async def apply(conn: AsyncConnection, stored: StoredEvent) -> None:
    event = stored.event
    if isinstance(event, GoalWorded):
        # The words as the store keeps them (an enc:v1 token); the views decrypt them.
        await _update_goal(conn, event, wording=event.wording)
    elif isinstance(event, HomeworkInstructed):
        await conn.execute(
            update(client_homework)
            .where(client_homework.c.homework_id == event.homework_id)
            .values(instructions=event.instructions)
        )
    elif isinstance(event, GoalAgreed | GoalRevised | GoalStatusChanged | GoalReviewed):
        await _goal_event(conn, stored, event)
    elif isinstance(event, HomeworkAssigned):
        await _homework_assigned(conn, event)
    elif isinstance(event, HomeworkCompleted | HomeworkMissed):
        await _occurrence_done(conn, event)
    elif isinstance(event, HomeworkCancelled):
        await conn.execute(
            update(client_homework)
            .where(client_homework.c.homework_id == event.homework_id)
            .values(cancelled_at=to_utc(event.cancelled_at), next_due_at=None)
        )
    elif isinstance(event, MeasureRecorded):
        await _measure_recorded(conn, event)
    elif isinstance(event, AllianceAlertRaised):
        await conn.execute(
            update(client_measures)
            .where(client_measures.c.measure_id == event.measure_id)
            .values(alliance_alert=True)
        )


async def _goal_event(
    conn: AsyncConnection,
    stored: StoredEvent,
    event: GoalAgreed | GoalRevised | GoalStatusChanged | GoalReviewed,
) -> None:
    # JSON for the history; Python values (dates) for the columns, but nested terms as JSON.
    terms = event.model_dump(mode="json", exclude=_GOAL_KEYS, exclude_none=True)
    values = event.model_dump(exclude=_GOAL_KEYS, exclude_none=True) | {
        name: terms[name] for name in ("milestones", "gas_scale") if name in terms
    }
    if isinstance(event, GoalAgreed):
        await conn.execute(
            insert(goal_progress).values(
                **event.model_dump(
                    include={
                        "goal_id",
                        "clinic_id",
                        "client_id",
                        "counselor_id",
                        "session_id",
                        "due_date",
                        "type",
                        "horizon",
                        "priority",
                        "review_every_days",
                        "gas_weight",
                        "lifecycle_status",
                        "achievement_status",
                    }
                ),
                # Columns of the words in clear before revision 0003: empty now (see wording).
                description="",
                measure="",
                target="",
                milestones=terms["milestones"],
                gas_scale=terms.get("gas_scale"),
                agreed_at=to_utc(event.agreed_at),
                homework_assigned=0,
                homework_completed=0,
                completed_on_time=0,
            )
        )
        at, actor = event.agreed_at, event.counselor_id
    elif isinstance(event, GoalRevised):
        values.pop("wording_revised")  # history only: the words are goal-worded's
        await _update_goal(conn, event, **values)
        at, actor = event.revised_at, event.revised_by
    elif isinstance(event, GoalStatusChanged):
        terms.pop("changed_at")
        values.pop("changed_at")
        await _update_goal(conn, event, **values)
        at, actor = event.changed_at, None
    else:
        terms.pop("reviewed_at")
        level = {} if event.attained_level is None else {"attained_level": event.attained_level}
        await _update_goal(
            conn,
            event,
            achievement_status=event.achievement_status,
            last_reviewed_at=to_utc(event.reviewed_at),
            **level,
        )
        at, actor = event.reviewed_at, event.counselor_id
    await conn.execute(
        insert(goal_history).values(
            goal_id=event.goal_id,
            version=stored.version,
            clinic_id=event.clinic_id,
            event_type=event.event_type,
            occurred_at=to_utc(at),
            actor=actor,
            changes=terms,
            attained_level=getattr(event, "attained_level", None),
        )
    )


async def _update_goal(conn: AsyncConnection, event: Any, **values: Any) -> None:
    if not values:
        return  # a revision of the words only: goal-worded updates the row
    await conn.execute(
        update(goal_progress).where(goal_progress.c.goal_id == event.goal_id).values(**values)
    )


async def _homework_assigned(conn: AsyncConnection, event: HomeworkAssigned) -> None:
    await conn.execute(
        insert(client_homework).values(
            homework_id=event.homework_id,
            clinic_id=event.clinic_id,
            client_id=event.client_id,
            counselor_id=event.counselor_id,
            goal_id=event.goal_id,
            session_id=event.session_id,
            instructions="",  # filled in by homework-instructed, encrypted
            due_at=to_utc(event.due_at),
            assigned_at=to_utc(event.assigned_at),
            type=event.type,
            recurrence=event.recurrence.model_dump(mode="json") if event.recurrence else None,
            reminder_lead_minutes=event.reminder_lead_minutes,
            next_due_at=to_utc(event.due_at),
        )
    )
    if event.goal_id is not None:
        await conn.execute(
            update(goal_progress)
            .where(goal_progress.c.goal_id == event.goal_id)
            .values(homework_assigned=goal_progress.c.homework_assigned + 1)
        )


async def _occurrence_done(
    conn: AsyncConnection, event: HomeworkCompleted | HomeworkMissed
) -> None:
    """An occurrence completed or missed: its outcome, and the next open one (if any)."""
    outcome: dict[str, Any] = {"completed_at": None, "on_time": False, "self_rating": None}
    if isinstance(event, HomeworkCompleted):
        outcome = {
            "completed_at": to_utc(event.completed_at),
            "on_time": event.on_time,
            "self_rating": event.self_rating,
        }
    await conn.execute(
        insert(homework_outcomes).values(
            homework_id=event.homework_id,
            due_at=to_utc(event.due_at),
            clinic_id=event.clinic_id,
            client_id=event.client_id,
            goal_id=event.goal_id,
            **outcome,
        )
    )
    row = (
        await conn.execute(
            select(client_homework.c.due_at, client_homework.c.recurrence).where(
                client_homework.c.homework_id == event.homework_id
            )
        )
    ).one()
    schedule = Recurrence.model_validate(row.recurrence) if row.recurrence else None
    next_due = recurrence.occurrence_after(as_utc(row.due_at), schedule, event.due_at)
    values: dict[str, Any] = {"next_due_at": next_due}
    if isinstance(event, HomeworkCompleted) and event.final:
        values |= {"completed_at": to_utc(event.completed_at), "on_time": event.on_time}
    await conn.execute(
        update(client_homework)
        .where(client_homework.c.homework_id == event.homework_id)
        .values(**values)
    )
    # The per-goal counters count homework finished, as they did before recurrences existed.
    if isinstance(event, HomeworkCompleted) and event.final and event.goal_id is not None:
        await conn.execute(
            update(goal_progress)
            .where(goal_progress.c.goal_id == event.goal_id)
            .values(
                homework_completed=goal_progress.c.homework_completed + 1,
                completed_on_time=goal_progress.c.completed_on_time + int(event.on_time),
            )
        )


async def _measure_recorded(conn: AsyncConnection, event: MeasureRecorded) -> None:
    await conn.execute(
        insert(client_measures).values(
            **event.model_dump(
                include={
                    "measure_id",
                    "clinic_id",
                    "client_id",
                    "counselor_id",
                    "session_id",
                    "instrument",
                    "total",
                    "band",
                }
            ),
            items=list(event.items),
            recorded_at=to_utc(event.recorded_at),
            alliance_alert=False,
        )
    )


async def purge_client(conn: AsyncConnection, clinic_id: str, client_id: str) -> None:
    """Erasure: every read-model row of the client goes."""
    goals = select(goal_progress.c.goal_id).where(
        goal_progress.c.clinic_id == clinic_id, goal_progress.c.client_id == client_id
    )
    await conn.execute(delete(goal_history).where(goal_history.c.goal_id.in_(goals)))
    for table in (goal_progress, client_homework, homework_outcomes, client_measures):
        await conn.execute(
            delete(table).where(table.c.clinic_id == clinic_id, table.c.client_id == client_id)
        )


async def _purge_erased(conn: AsyncConnection) -> None:
    """After a replay: the erased clients' events are still in the log, their rows must not
    come back (their key rows stay as tombstones)."""
    erased = await conn.execute(
        select(client_keys.c.clinic_id, client_keys.c.client_id).where(
            client_keys.c.erased_at.is_not(None)
        )
    )
    for clinic_id, client_id in erased.all():
        await purge_client(conn, clinic_id, client_id)


async def rebuild(engine: AsyncEngine, store: EventStore) -> int:
    """Clear the read model and replay every stored event in order; returns how many."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Hold off new appends (their inline projection would race the replay) and wait
            # for those in flight, while reads go on. SQLite's BEGIN IMMEDIATE already does.
            await conn.execute(text("LOCK TABLE events IN SHARE MODE"))
        for table in reversed(PROJECTION_TABLES):
            await conn.execute(delete(table))
        replayed, position = 0, 0
        while batch := await store.read_all(conn, after_position=position, limit=REPLAY_BATCH):
            for stored in batch:
                await apply(conn, stored)
            replayed += len(batch)
            position = batch[-1].position
        await _purge_erased(conn)
    return replayed
