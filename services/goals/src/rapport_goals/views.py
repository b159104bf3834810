"""Read-model queries for the API. Every query is scoped to one clinic, and progress is only
ever shown per goal or per client: no view compares clients."""

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals.instants import as_utc
from rapport_goals.tables import (
    client_homework,
    goal_history,
    goal_progress,
)
from rapport_shared.contracts.goals import AchievementStatus, LifecycleStatus
from rapport_shared.contracts.sessions import GasLevel, Milestone, Recurrence
from rapport_shared.errors import NotFound

StoredInstant = Annotated[datetime, AfterValidator(as_utc)]


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


async def goal(conn: AsyncConnection, clinic_id: str, goal_id: UUID) -> GoalView:
    row = await goal_row(conn, clinic_id, goal_id)
    return GoalView.model_validate({**row, "next_review_due": _next_review(row)})


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
    conn: AsyncConnection, clinic_id: str, client_id: str
) -> list[HomeworkItem]:
    rows = await conn.execute(
        select(client_homework)
        .where(client_homework.c.clinic_id == clinic_id, client_homework.c.client_id == client_id)
        .order_by(client_homework.c.due_at, client_homework.c.homework_id)
    )
    return [_homework_item(row._mapping) for row in rows]


async def homework(conn: AsyncConnection, clinic_id: str, homework_id: UUID) -> HomeworkItem:
    row = (
        await conn.execute(
            select(client_homework).where(
                client_homework.c.clinic_id == clinic_id,
                client_homework.c.homework_id == homework_id,
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"no homework {homework_id} in clinic {clinic_id}", field="homework_id")
    return _homework_item(row._mapping)


def _homework_item(row: Any) -> HomeworkItem:
    status = (
        "cancelled"
        if row["cancelled_at"] is not None
        else "completed"
        if row["completed_at"] is not None
        else "missed"
        if row["next_due_at"] is None
        else "assigned"
    )
    return HomeworkItem.model_validate({**row, "status": status})


def _next_review(row: Any) -> date | None:
    if row["review_every_days"] is None:
        return None
    since = row["last_reviewed_at"] or row["agreed_at"]
    return (as_utc(since) + timedelta(days=row["review_every_days"])).date()


async def goal_row(conn: AsyncConnection, clinic_id: str, goal_id: UUID) -> Any:
    row = (
        await conn.execute(
            select(goal_progress).where(
                goal_progress.c.clinic_id == clinic_id, goal_progress.c.goal_id == goal_id
            )
        )
    ).first()
    if row is None:
        # Another clinic's goal is as unknown here as one that does not exist.
        raise NotFound(f"no goal {goal_id} in clinic {clinic_id}", field="goal_id")
    return row._mapping
