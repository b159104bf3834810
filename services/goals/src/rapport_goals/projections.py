"""The progress read model, built from this service's own events.

apply() runs in the transaction that appends the event (see service_layer.handlers.record), so
the read model never lags or diverges from the store; rebuild() replays the whole store into
empty tables and must reach the same rows.
"""

from datetime import UTC, datetime

from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_goals.tables import PROJECTION_TABLES, client_homework, goal_progress
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import GoalAgreed, HomeworkAssigned, HomeworkCompleted
from rapport_shared.eventstore import EventStore

REPLAY_BATCH = 500


async def apply(conn: AsyncConnection, event: EventContract) -> None:
    if isinstance(event, GoalAgreed):
        await _goal_agreed(conn, event)
    elif isinstance(event, HomeworkAssigned):
        await _homework_assigned(conn, event)
    elif isinstance(event, HomeworkCompleted):
        await _homework_completed(conn, event)


async def _goal_agreed(conn: AsyncConnection, event: GoalAgreed) -> None:
    await conn.execute(
        insert(goal_progress).values(
            goal_id=event.goal_id,
            clinic_id=event.clinic_id,
            client_id=event.client_id,
            counselor_id=event.counselor_id,
            session_id=event.session_id,
            description=event.description,
            measure=event.measure,
            target=event.target,
            due_date=event.due_date,
            agreed_at=_utc(event.agreed_at),
            homework_assigned=0,
            homework_completed=0,
            completed_on_time=0,
        )
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
            instructions=event.instructions,
            due_at=_utc(event.due_at),
            assigned_at=_utc(event.assigned_at),
        )
    )
    if event.goal_id is not None:
        await conn.execute(
            update(goal_progress)
            .where(goal_progress.c.goal_id == event.goal_id)
            .values(homework_assigned=goal_progress.c.homework_assigned + 1)
        )


async def _homework_completed(conn: AsyncConnection, event: HomeworkCompleted) -> None:
    await conn.execute(
        update(client_homework)
        .where(client_homework.c.homework_id == event.homework_id)
        .values(completed_at=_utc(event.completed_at), on_time=event.on_time)
    )
    if event.goal_id is not None:
        await conn.execute(
            update(goal_progress)
            .where(goal_progress.c.goal_id == event.goal_id)
            .values(
                homework_completed=goal_progress.c.homework_completed + 1,
                completed_on_time=goal_progress.c.completed_on_time + int(event.on_time),
            )
        )


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
                await apply(conn, stored.event)
            replayed += len(batch)
            position = batch[-1].position
    return replayed


def _utc(moment: datetime) -> datetime:
    # SQLite keeps no offset: store every instant in UTC so stored times compare correctly.
    return moment.astimezone(UTC)
