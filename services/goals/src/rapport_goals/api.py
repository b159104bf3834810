"""HTTP: parse the request, call a handler in a transaction, answer from the read model."""

from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, ConfigDict

from rapport_goals import views
from rapport_goals.domain.commands import AgreeGoal, AssignHomework, CompleteHomework
from rapport_goals.service_layer import handlers
from rapport_shared.clinic import CLINIC_SLUG_PATTERN
from rapport_shared.contracts.base import AwareDatetime, PersonId, ShortText
from rapport_shared.runtime import ServiceRuntime


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]
ClinicId = Annotated[str, Path(pattern=CLINIC_SLUG_PATTERN, max_length=63)]
ClientId = Annotated[PersonId, Path()]

router = APIRouter(prefix="/clinics/{clinic_id}", tags=["goals"])


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgreeGoalRequest(_Request):
    goal_id: UUID | None = None
    client_id: PersonId
    counselor_id: PersonId
    description: ShortText
    measure: ShortText
    target: ShortText
    due_date: date


class AssignHomeworkRequest(_Request):
    homework_id: UUID | None = None
    client_id: PersonId
    counselor_id: PersonId
    instructions: ShortText
    due_at: AwareDatetime
    # A goal of the same client in this clinic that the homework serves.
    goal_id: UUID | None = None


class CompleteHomeworkRequest(_Request):
    # When the client did it; defaults to now.
    completed_at: AwareDatetime | None = None


class Completion(BaseModel):
    homework_id: UUID
    completed_at: datetime
    on_time: bool


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/goals", status_code=201)
async def agree_goal(
    clinic_id: ClinicId, body: AgreeGoalRequest, runtime: Runtime
) -> views.GoalView:
    command = AgreeGoal(
        clinic_id=clinic_id,
        goal_id=body.goal_id or uuid4(),
        **body.model_dump(exclude={"goal_id"}),
    )
    async with runtime.transaction() as conn:
        await handlers.agree_goal(conn, runtime.store, command, now=_now())
        return await views.goal(conn, clinic_id, command.goal_id)


@router.get("/goals/{goal_id}")
async def get_goal(clinic_id: ClinicId, goal_id: UUID, runtime: Runtime) -> views.GoalView:
    async with runtime.engine.connect() as conn:
        return await views.goal(conn, clinic_id, goal_id)


@router.get("/goals/{goal_id}/progress")
async def get_goal_progress(
    clinic_id: ClinicId, goal_id: UUID, runtime: Runtime
) -> views.GoalProgress:
    async with runtime.engine.connect() as conn:
        return await views.goal_progress_of(conn, clinic_id, goal_id)


@router.post("/homework", status_code=201)
async def assign_homework(
    clinic_id: ClinicId, body: AssignHomeworkRequest, runtime: Runtime
) -> views.HomeworkItem:
    command = AssignHomework(
        clinic_id=clinic_id,
        homework_id=body.homework_id or uuid4(),
        **body.model_dump(exclude={"homework_id"}),
    )
    async with runtime.transaction() as conn:
        await handlers.assign_homework(conn, runtime.store, command, now=_now())
        return await views.homework(conn, clinic_id, command.homework_id)


@router.post("/homework/{homework_id}/complete")
async def complete_homework(
    clinic_id: ClinicId,
    homework_id: UUID,
    runtime: Runtime,
    body: Annotated[CompleteHomeworkRequest | None, Body()] = None,
) -> Completion:
    completed_at = body.completed_at if body else None
    command = CompleteHomework(clinic_id, homework_id, completed_at)
    async with runtime.transaction() as conn:
        event = await handlers.complete_homework(conn, runtime.store, command, now=_now())
    return Completion(
        homework_id=event.homework_id, completed_at=event.completed_at, on_time=event.on_time
    )


@router.get("/clients/{client_id}/homework")
async def get_client_homework(
    clinic_id: ClinicId, client_id: ClientId, runtime: Runtime
) -> list[views.HomeworkItem]:
    async with runtime.engine.connect() as conn:
        return await views.homework_of_client(conn, clinic_id, client_id)


@router.get("/clients/{client_id}/progress")
async def get_client_progress(
    clinic_id: ClinicId, client_id: ClientId, runtime: Runtime
) -> views.ClientProgress:
    async with runtime.engine.connect() as conn:
        return await views.client_progress(conn, clinic_id, client_id)
