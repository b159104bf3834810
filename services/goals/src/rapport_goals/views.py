"""Read-model queries for the API. Every query is scoped to one clinic, and progress is only
ever shown per goal or per client: no view compares clients."""

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals.domain.events import HomeworkJournalWritten
from rapport_goals.domain.homework import homework_stream
from rapport_goals.tables import (
    client_homework,
    goal_history,
    goal_progress,
)
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.goals import AchievementStatus, LifecycleStatus
from rapport_shared.contracts.plan import (
    GasLevel,
    GoalWording,
    Milestone,
    worded_milestones,
    worded_scale,
)
from rapport_shared.contracts.sessions import PlannedGasLevel, PlannedMilestone, Recurrence
from rapport_shared.eventsourcing.crypto import KeyRing, decrypt_text, is_encrypted
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.security.access import unseen

StoredInstant = Annotated[datetime, AfterValidator(to_utc)]


class GoalView(BaseModel):
    goal_id: UUID
    clinic_id: str
    client_id: str
    counselor_id: str
    session_id: UUID | None = Field(
        description="The session whose closing step agreed it; null when agreed directly"
    )
    description: str
    measure: str
    target: str
    due_date: date
    agreed_at: StoredInstant
    type: str
    horizon: str
    priority: str
    review_every_days: int | None
    next_review_due: date | None = Field(
        description="The last review (or the agreement) plus review_every_days"
    )
    milestones: list[Milestone]
    gas_scale: list[GasLevel] | None
    gas_weight: float
    lifecycle_status: LifecycleStatus
    achievement_status: AchievementStatus
    attained_level: int | None = Field(description="The GAS level of the latest review")


class HistoryEntry(BaseModel):
    version: int
    event_type: str
    occurred_at: StoredInstant
    actor: str | None
    changes: dict[str, Any]


class HomeworkItem(BaseModel):
    homework_id: UUID
    goal_id: UUID | None
    session_id: UUID | None
    instructions: str
    due_at: StoredInstant
    completed_at: StoredInstant | None
    status: Literal["assigned", "completed", "missed", "cancelled"]
    type: str
    recurrence: Recurrence | None
    reminder_lead_minutes: int | None
    next_due_at: StoredInstant | None = Field(description="The earliest open occurrence")


async def goal(conn: AsyncConnection, keys: KeyRing, clinic_id: str, goal_id: UUID) -> GoalView:
    row = await goal_row(conn, clinic_id, goal_id)
    words = await _goal_words(conn, keys, row)
    milestones = [PlannedMilestone.model_validate(m) for m in row["milestones"]]
    scale = row["gas_scale"]
    return GoalView.model_validate(
        {
            **row,
            "description": words.description,
            "measure": words.measure,
            "target": words.target,
            "milestones": worded_milestones(milestones, words.milestones),
            "gas_scale": worded_scale(
                None if scale is None else [PlannedGasLevel.model_validate(g) for g in scale],
                words.gas_levels,
            ),
            "next_review_due": _next_review(row),
        }
    )


async def _goal_words(conn: AsyncConnection, keys: KeyRing, row: RowMapping) -> GoalWording:
    """The goal's words: decrypted from the wording token (empty once the client is erased),
    or, for a goal agreed before revision 0003, the columns in clear."""
    if row["wording"] is None:
        return GoalWording(
            description=row["description"],
            measure=row["measure"],
            target=row["target"],
            milestones=tuple(m.get("description", "") for m in row["milestones"]),
            gas_levels=tuple(g.get("description", "") for g in row["gas_scale"] or ()),
        )
    key = await keys.key(conn, row["clinic_id"], row["client_id"])
    words = decrypt_text(key, row["clinic_id"], row["client_id"], row["wording"])
    return GoalWording.model_validate_json(words) if words else GoalWording()


class JournalEntry(BaseModel):
    due_at: StoredInstant = Field(description="The occurrence it was written for")
    journal: str
    written_at: StoredInstant


async def journal(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, homework_id: UUID
) -> list[JournalEntry]:
    """The journal entries of one homework, from its stream (the store decrypts them)."""
    await homework(
        conn, store.keys, clinic_id, homework_id
    )  # another clinic's is as unknown as none
    return [
        JournalEntry(
            due_at=stored.event.due_at,
            journal=stored.event.journal,
            written_at=stored.event.written_at,
        )
        for stored in await store.load(conn, homework_stream(homework_id))
        if isinstance(stored.event, HomeworkJournalWritten)
    ]


async def goal_history_of(
    conn: AsyncConnection, clinic_id: str, goal_id: UUID
) -> list[HistoryEntry]:
    await goal_row(conn, clinic_id, goal_id)
    rows = await conn.execute(
        select(goal_history)
        .where(goal_history.c.goal_id == goal_id)
        .order_by(goal_history.c.version)
    )
    return [HistoryEntry.model_validate(row._mapping) for row in rows]


async def homework_of_client(
    conn: AsyncConnection, keys: KeyRing, clinic_id: str, client_id: str
) -> list[HomeworkItem]:
    rows = await conn.execute(
        select(client_homework)
        .where(client_homework.c.clinic_id == clinic_id, client_homework.c.client_id == client_id)
        .order_by(client_homework.c.due_at, client_homework.c.homework_id)
    )
    key = await keys.key(conn, clinic_id, client_id)
    return [_homework_item(row._mapping, key) for row in rows]


async def homework(
    conn: AsyncConnection, keys: KeyRing, clinic_id: str, homework_id: UUID
) -> HomeworkItem:
    row = (
        await conn.execute(
            select(client_homework).where(
                client_homework.c.clinic_id == clinic_id,
                client_homework.c.homework_id == homework_id,
            )
        )
    ).first()
    if row is None:
        raise unseen("homework_id")
    key = await keys.key(conn, clinic_id, row.client_id)
    return _homework_item(row._mapping, key)


def _homework_item(row: RowMapping, key: bytes | None) -> HomeworkItem:
    status = (
        "cancelled"
        if row["cancelled_at"] is not None
        else "completed"
        if row["completed_at"] is not None
        else "missed"
        if row["next_due_at"] is None
        else "assigned"
    )
    instructions = row["instructions"]
    if is_encrypted(instructions):
        instructions = decrypt_text(key, row["clinic_id"], row["client_id"], instructions)
    return HomeworkItem.model_validate({**row, "instructions": instructions, "status": status})


def _next_review(row: RowMapping) -> date | None:
    if row["review_every_days"] is None:
        return None
    since = row["last_reviewed_at"] or row["agreed_at"]
    return (to_utc(since) + timedelta(days=row["review_every_days"])).date()


async def goal_row(conn: AsyncConnection, clinic_id: str, goal_id: UUID) -> RowMapping:
    row = (
        await conn.execute(
            select(goal_progress).where(
                goal_progress.c.clinic_id == clinic_id, goal_progress.c.goal_id == goal_id
            )
        )
    ).first()
    if row is None:
        # Another clinic's goal is as unknown here as one that does not exist.
        raise unseen("goal_id")
    return row._mapping
