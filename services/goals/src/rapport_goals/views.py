"""Read-model queries for the API. Every query is scoped to one clinic, and progress is only
ever shown per goal or per client: no view compares clients."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals.tables import client_homework, goal_progress
from rapport_shared.errors import NotFound


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the projection stored every instant in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


StoredInstant = Annotated[datetime, AfterValidator(_as_utc)]


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


class ProgressCounts(BaseModel):
    homework_assigned: int
    homework_completed: int
    completed_on_time: int


class GoalProgress(ProgressCounts):
    goal_id: UUID
    client_id: str


class ClientProgress(BaseModel):
    client_id: str
    goals: list[GoalProgress]
    total: ProgressCounts = Field(
        description="All the client's homework, including homework that serves no goal"
    )


class HomeworkItem(BaseModel):
    homework_id: UUID
    goal_id: UUID | None
    session_id: UUID | None
    instructions: str
    due_at: StoredInstant
    completed_at: StoredInstant | None
    status: Literal["assigned", "completed"]


async def goal(conn: AsyncConnection, clinic_id: str, goal_id: UUID) -> GoalView:
    return GoalView.model_validate(await _goal_row(conn, clinic_id, goal_id))


async def goal_progress_of(conn: AsyncConnection, clinic_id: str, goal_id: UUID) -> GoalProgress:
    return GoalProgress.model_validate(await _goal_row(conn, clinic_id, goal_id))


async def client_progress(conn: AsyncConnection, clinic_id: str, client_id: str) -> ClientProgress:
    goals = await conn.execute(
        select(goal_progress)
        .where(goal_progress.c.clinic_id == clinic_id, goal_progress.c.client_id == client_id)
        .order_by(goal_progress.c.agreed_at, goal_progress.c.goal_id)
    )
    homework = client_homework.c
    totals = await conn.execute(
        select(
            func.count().label("homework_assigned"),
            func.count(homework.completed_at).label("homework_completed"),
            func.coalesce(func.sum(case((homework.on_time, 1), else_=0)), 0).label(
                "completed_on_time"
            ),
        ).where(homework.clinic_id == clinic_id, homework.client_id == client_id)
    )
    return ClientProgress(
        client_id=client_id,
        goals=[GoalProgress.model_validate(row._mapping) for row in goals],
        total=ProgressCounts.model_validate(totals.one()._mapping),
    )


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
    status = "assigned" if row["completed_at"] is None else "completed"
    return HomeworkItem.model_validate({**row, "status": status})


async def _goal_row(conn: AsyncConnection, clinic_id: str, goal_id: UUID) -> Any:
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
