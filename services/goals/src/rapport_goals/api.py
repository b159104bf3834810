"""HTTP: parse the request, call a handler in a transaction, answer from the read model."""

from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, Strict
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals import outcome_views, progress_views, safety_views, views
from rapport_goals.domain.commands import (
    AgreeGoal,
    AssignHomework,
    ChangeGoalStatus,
    CompleteHomework,
    RecordMeasure,
    ReviewGoal,
    ReviseGoal,
)
from rapport_goals.domain.events import JournalText
from rapport_goals.domain.goal import goal_stream
from rapport_goals.domain.homework import homework_stream
from rapport_goals.domain.measures import measure_stream
from rapport_goals.domain.risk import MAX_ALERTED_ADMINS, RiskPolicy
from rapport_goals.service_layer import handlers, measure_asks, risk_flags
from rapport_goals.settings import GoalsSettings
from rapport_shared.contracts.base import PersonId, ShortText
from rapport_shared.contracts.clinic import CLINIC_SLUG_PATTERN
from rapport_shared.contracts.goals import (
    MAX_MEASURE_SCHEDULES,
    AchievementStatus,
    Instrument,
    LifecycleStatus,
    MeasureSchedule,
    MeasureTiming,
)
from rapport_shared.contracts.sessions import GoalHorizon, GoalType, HomeworkType
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.runtime import commands
from rapport_shared.runtime.commands import Read
from rapport_shared.runtime.service import Runtime, ServiceRuntime
from rapport_shared.security import audit
from rapport_shared.security.access import (
    FromPath,
    FromStream,
    authorize,
    authorize_create,
    principal_of,
)
from rapport_shared.security.policy import Action
from rapport_shared.web.request_models import (
    GasScale,
    GasWeight,
    Milestones,
    RecurrenceRequest,
    ReminderLead,
    RequestDate,
    RequestTime,
    ReviewEvery,
    TimeZoneName,
    WholeNumber,
)

ClinicId = Annotated[str, Path(pattern=CLINIC_SLUG_PATTERN, max_length=63)]
ClientId = Annotated[PersonId, Path()]
Priority = Literal["high", "medium", "low"]
# The service runs on a store that keeps free text encrypted under each client's key.
Goals = Runtime[PrivateEventStore]
# The longest instrument (PHQ-9) has nine items; the domain checks the exact count.
MAX_MEASURE_ITEMS = 20

router = APIRouter(prefix="/clinics/{clinic_id}", tags=["goals"])

# Who may call each route: rapport_shared.security.policy, and the matrix in docs/security.md.
THE_GOAL = FromStream("goal_id", goal_stream)
THE_HOMEWORK = FromStream("homework_id", homework_stream)
READ_GOAL = authorize(Action.CLIENT_READ, THE_GOAL)
REVISE_GOAL = authorize(Action.WRITE, THE_GOAL, acting_as=("revised_by",))


def _settings(runtime: ServiceRuntime[PrivateEventStore]) -> GoalsSettings:
    settings = runtime.settings
    assert isinstance(settings, GoalsSettings)
    return settings


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgreeGoalRequest(_Request):
    goal_id: UUID | None = None
    client_id: PersonId
    counselor_id: PersonId
    description: ShortText
    measure: ShortText
    target: ShortText
    due_date: RequestDate
    type: GoalType = "behavioral"
    horizon: GoalHorizon = "short-term"
    priority: Priority = "medium"
    review_every_days: ReviewEvery | None = None
    milestones: Milestones = ()
    gas_scale: GasScale | None = None
    gas_weight: GasWeight = 1.0


class ReviseGoalRequest(_Request):
    """Only the terms given change."""

    revised_by: PersonId
    description: ShortText | None = None
    measure: ShortText | None = None
    target: ShortText | None = None
    due_date: RequestDate | None = None
    priority: Priority | None = None
    review_every_days: ReviewEvery | None = None
    milestones: Milestones | None = None
    gas_scale: GasScale | None = None


class ChangeStatusRequest(_Request):
    lifecycle_status: LifecycleStatus
    # Omitted: the achievement status stays as it is.
    achievement_status: AchievementStatus | None = None


class ReviewRequest(_Request):
    attained_level: Annotated[WholeNumber, Field(ge=-2, le=2)] | None = None
    achievement_status: AchievementStatus
    reviewed_by: PersonId


class AssignHomeworkRequest(_Request):
    homework_id: UUID | None = None
    client_id: PersonId
    counselor_id: PersonId
    instructions: ShortText
    due_at: RequestTime = Field(description="One-off: when due; recurring: the first time")
    # A goal of the same client in this clinic that the homework serves.
    goal_id: UUID | None = None
    type: HomeworkType = "other"
    recurrence: RecurrenceRequest | None = None
    reminder_lead_minutes: ReminderLead | None = None


class CompleteHomeworkRequest(_Request):
    # When the client did it; defaults to now.
    completed_at: RequestTime | None = None
    self_rating: Annotated[WholeNumber, Field(ge=0, le=10)] | None = None
    # Private: kept in this service only, never published.
    journal: JournalText | None = None


class Completion(BaseModel):
    homework_id: UUID
    due_at: datetime = Field(description="The occurrence this completion fulfilled")
    completed_at: datetime
    on_time: bool
    final: bool = Field(description="True when no occurrence is left to do")


class RecordMeasureRequest(_Request):
    measure_id: UUID | None = None
    instrument: Instrument
    items: tuple[WholeNumber, ...] = Field(
        description="Item scores in order, whole numbers: PHQ-9/GAD-7 0-3, ORS/SRS 0-10",
        max_length=MAX_MEASURE_ITEMS,
    )
    session_id: UUID | None = None
    counselor_id: PersonId | None = None


@router.post(
    "/goals",
    status_code=201,
    dependencies=[authorize_create("goal_id", goal_stream)],
)
async def agree_goal(
    clinic_id: ClinicId, body: AgreeGoalRequest, runtime: Goals, request: Request
) -> views.GoalView:
    command = AgreeGoal(
        clinic_id=clinic_id, goal_id=body.goal_id or uuid4(), **_fields(body, "goal_id")
    )
    audit.created(request, goal_id=command.goal_id)
    return await commands.run_then_read(
        runtime, _goal(runtime, clinic_id, command.goal_id), handlers.agree_goal, command
    )


@router.get("/goals/{goal_id}", dependencies=[READ_GOAL])
async def get_goal(clinic_id: ClinicId, goal_id: UUID, runtime: Goals) -> views.GoalView:
    async with runtime.engine.connect() as conn:
        return await views.goal(conn, runtime.store.keys, clinic_id, goal_id)


@router.patch("/goals/{goal_id}", dependencies=[REVISE_GOAL])
@router.post("/goals/{goal_id}/revise", dependencies=[REVISE_GOAL])
async def revise_goal(
    clinic_id: ClinicId, goal_id: UUID, body: ReviseGoalRequest, runtime: Goals
) -> views.GoalView:
    command = ReviseGoal(clinic_id=clinic_id, goal_id=goal_id, **_fields(body))
    return await commands.run_then_read(
        runtime, _goal(runtime, clinic_id, goal_id), handlers.revise_goal, command
    )


@router.post("/goals/{goal_id}/status", dependencies=[authorize(Action.WRITE, THE_GOAL)])
async def change_goal_status(
    clinic_id: ClinicId, goal_id: UUID, body: ChangeStatusRequest, runtime: Goals
) -> views.GoalView:
    command = ChangeGoalStatus(clinic_id=clinic_id, goal_id=goal_id, **_fields(body))
    return await commands.run_then_read(
        runtime, _goal(runtime, clinic_id, goal_id), handlers.change_goal_status, command
    )


@router.post(
    "/goals/{goal_id}/reviews",
    status_code=201,
    dependencies=[authorize(Action.WRITE, THE_GOAL, acting_as=("reviewed_by",))],
)
async def review_goal(
    clinic_id: ClinicId, goal_id: UUID, body: ReviewRequest, runtime: Goals
) -> views.GoalView:
    command = ReviewGoal(clinic_id=clinic_id, goal_id=goal_id, **_fields(body))
    return await commands.run_then_read(
        runtime, _goal(runtime, clinic_id, goal_id), handlers.review_goal, command
    )


@router.get("/goals/{goal_id}/history", dependencies=[READ_GOAL])
async def get_goal_history(
    clinic_id: ClinicId, goal_id: UUID, runtime: Goals
) -> list[views.HistoryEntry]:
    async with runtime.engine.connect() as conn:
        return await views.goal_history_of(conn, clinic_id, goal_id)


@router.get("/goals/{goal_id}/progress", dependencies=[READ_GOAL])
async def get_goal_progress(
    clinic_id: ClinicId, goal_id: UUID, runtime: Goals
) -> progress_views.GoalProgress:
    threshold = _settings(runtime).unrealistic_adherence_threshold
    async with runtime.engine.connect() as conn:
        return await progress_views.goal_progress_of(conn, clinic_id, goal_id, threshold)


@router.post(
    "/homework",
    status_code=201,
    dependencies=[authorize_create("homework_id", homework_stream)],
)
async def assign_homework(
    clinic_id: ClinicId, body: AssignHomeworkRequest, runtime: Goals, request: Request
) -> views.HomeworkItem:
    command = AssignHomework(
        clinic_id=clinic_id,
        homework_id=body.homework_id or uuid4(),
        **_fields(body, "homework_id"),
    )
    audit.created(request, homework_id=command.homework_id)
    return await commands.run_then_read(
        runtime,
        _homework(runtime, clinic_id, command.homework_id),
        handlers.assign_homework,
        command,
    )


@router.post(
    "/homework/{homework_id}/complete",
    dependencies=[authorize(Action.CLIENT_WRITE, THE_HOMEWORK)],
)
async def complete_homework(
    clinic_id: ClinicId,
    homework_id: UUID,
    runtime: Goals,
    body: Annotated[CompleteHomeworkRequest | None, Body()] = None,
) -> Completion:
    command = CompleteHomework(clinic_id, homework_id, **_fields(body or CompleteHomeworkRequest()))
    event = await commands.run(runtime, handlers.complete_homework, command)
    return Completion(
        homework_id=event.homework_id,
        due_at=event.due_at,
        completed_at=event.completed_at,
        on_time=event.on_time,
        final=event.final,
    )


@router.post("/homework/{homework_id}/cancel", dependencies=[authorize(Action.WRITE, THE_HOMEWORK)])
async def cancel_homework(
    clinic_id: ClinicId, homework_id: UUID, runtime: Goals
) -> views.HomeworkItem:
    return await commands.run_then_read(
        runtime,
        _homework(runtime, clinic_id, homework_id),
        handlers.cancel_homework,
        clinic_id,
        homework_id,
    )


@router.get(
    "/homework/{homework_id}/journal", dependencies=[authorize(Action.CLIENT_READ, THE_HOMEWORK)]
)
async def get_homework_journal(
    clinic_id: ClinicId, homework_id: UUID, runtime: Goals
) -> list[views.JournalEntry]:
    """What the client wrote with their completions (empty words once they are erased)."""
    async with runtime.engine.connect() as conn:
        return await views.journal(conn, runtime.store, clinic_id, homework_id)


@router.get(
    "/clients/{client_id}/homework", dependencies=[authorize(Action.CLIENT_READ, FromPath())]
)
async def get_client_homework(
    clinic_id: ClinicId, client_id: ClientId, runtime: Goals
) -> list[views.HomeworkItem]:
    async with runtime.engine.connect() as conn:
        return await views.homework_of_client(conn, runtime.store.keys, clinic_id, client_id)


@router.post(
    "/clients/{client_id}/measures",
    status_code=201,
    dependencies=[
        authorize(
            Action.CLIENT_WRITE,
            FromPath(),
            acting_as=("counselor_id",),
            creates=("measure_id", measure_stream),
        )
    ],
)
async def record_measure(
    clinic_id: ClinicId,
    client_id: ClientId,
    body: RecordMeasureRequest,
    runtime: Goals,
    request: Request,
) -> progress_views.MeasureView:
    command = RecordMeasure(
        clinic_id=clinic_id,
        client_id=client_id,
        measure_id=body.measure_id or uuid4(),
        **_fields(body, "measure_id"),
    )
    audit.created(request, measure_id=command.measure_id)
    return await commands.run_then_read(
        runtime,
        partial(progress_views.measure, measure_id=command.measure_id),
        handlers.record_measure,
        command,
        _settings(runtime).alliance_threshold,
    )


@router.get(
    "/clients/{client_id}/progress", dependencies=[authorize(Action.CLIENT_READ, FromPath())]
)
async def get_client_progress(
    clinic_id: ClinicId, client_id: ClientId, runtime: Goals
) -> progress_views.ClientProgress:
    threshold = _settings(runtime).unrealistic_adherence_threshold
    async with runtime.engine.connect() as conn:
        return await progress_views.client_progress(
            conn, runtime.store.keys, clinic_id, client_id, threshold
        )


# Clinical safety and measures on a schedule (issue 17).

THE_CLIENT = FromPath()


class RiskSettingsRequest(_Request):
    threshold: Annotated[WholeNumber, Field(ge=1, le=3)] = 1
    alert_care_team: Annotated[bool, Strict()] = True
    admin_ids: tuple[PersonId, ...] = Field((), max_length=MAX_ALERTED_ADMINS)


class AcknowledgeRequest(_Request):
    acknowledged_by: PersonId


class MeasureScheduleRequest(_Request):
    instrument: Instrument
    when: MeasureTiming
    every_days: Annotated[WholeNumber, Field(ge=1, le=365)] | None = None


class MeasurementPlanRequest(_Request):
    set_by: PersonId
    schedules: tuple[MeasureScheduleRequest, ...] = Field(max_length=MAX_MEASURE_SCHEDULES)
    time_zone: TimeZoneName = "UTC"
    first_at: RequestTime | None = Field(
        None, description="The first every-n-days ask; later ones at its local time"
    )


@router.put("/risk-settings", dependencies=[authorize(Action.ADMINISTER)])
async def put_risk_settings(
    clinic_id: ClinicId, body: RiskSettingsRequest, runtime: Goals, request: Request
) -> safety_views.RiskSettingsView:
    policy = RiskPolicy(body.threshold, body.alert_care_team, body.admin_ids)
    return await commands.run_then_read(
        runtime,
        partial(_risk_settings, clinic_id=clinic_id),
        risk_flags.set_policy,
        clinic_id,
        policy,
        principal_of(request).sub,
    )


@router.get("/risk-settings", dependencies=[authorize(Action.READ)])
async def get_risk_settings(clinic_id: ClinicId, runtime: Goals) -> safety_views.RiskSettingsView:
    async with runtime.engine.connect() as conn:
        return await _risk_settings(conn, clinic_id)


@router.post(
    "/clients/{client_id}/risk-flags/{flag_id}/acknowledge",
    dependencies=[authorize(Action.WRITE, THE_CLIENT, acting_as=("acknowledged_by",))],
)
async def acknowledge_risk_flag(
    clinic_id: ClinicId,
    client_id: ClientId,
    flag_id: UUID,
    body: AcknowledgeRequest,
    runtime: Goals,
) -> safety_views.RiskFlagView:
    return await commands.run_then_read(
        runtime,
        partial(safety_views.flag, flag_id=flag_id),
        risk_flags.acknowledge,
        clinic_id,
        client_id,
        flag_id,
        body.acknowledged_by,
    )


@router.put(
    "/clients/{client_id}/measurement-plan",
    dependencies=[authorize(Action.WRITE, THE_CLIENT, acting_as=("set_by",))],
)
async def put_measurement_plan(
    clinic_id: ClinicId, client_id: ClientId, body: MeasurementPlanRequest, runtime: Goals
) -> safety_views.MeasurementPlanView:
    schedules = [MeasureSchedule.model_validate(s.model_dump()) for s in body.schedules]
    return await commands.run_then_read(
        runtime,
        partial(_plan, runtime=runtime, clinic_id=clinic_id, client_id=client_id),
        measure_asks.set_plan,
        clinic_id,
        client_id,
        schedules,
        body.set_by,
        body.time_zone,
        body.first_at,
    )


@router.get(
    "/clients/{client_id}/measurement-plan",
    dependencies=[authorize(Action.CLIENT_READ, THE_CLIENT)],
)
async def get_measurement_plan(
    clinic_id: ClinicId, client_id: ClientId, runtime: Goals
) -> safety_views.MeasurementPlanView:
    async with runtime.engine.connect() as conn:
        return await _plan(conn, runtime, clinic_id, client_id)


@router.get("/outcomes", dependencies=[authorize(Action.READ)])
async def get_outcomes(
    clinic_id: ClinicId,
    runtime: Goals,
    request: Request,
    since: Annotated[RequestDate, Query(alias="from")],
    until: Annotated[RequestDate, Query(alias="to")],
) -> outcome_views.OutcomesView:
    """Clinic admins and auditors: the clinic's clients; a counselor: their own caseload."""
    principal = principal_of(request)
    counselor = principal.sub if principal.role == "counselor" else None
    async with runtime.engine.connect() as conn:
        return await outcome_views.clinic_outcomes(conn, clinic_id, since, until, counselor)


async def _risk_settings(conn: AsyncConnection, clinic_id: str) -> safety_views.RiskSettingsView:
    return safety_views.settings_view(await risk_flags.policy_of(conn, clinic_id))


async def _plan(
    conn: AsyncConnection, runtime: Goals, clinic_id: str, client_id: str
) -> safety_views.MeasurementPlanView:
    plan = await measure_asks.load_plan(conn, runtime.store, clinic_id, client_id)
    return safety_views.plan_view(plan)


def _goal(runtime: Goals, clinic_id: str, goal_id: UUID) -> Read[views.GoalView]:
    """The goal as a command route answers with it, read in the command's transaction."""
    return partial(views.goal, keys=runtime.store.keys, clinic_id=clinic_id, goal_id=goal_id)


def _homework(runtime: Goals, clinic_id: str, homework_id: UUID) -> Read[views.HomeworkItem]:
    return partial(
        views.homework, keys=runtime.store.keys, clinic_id=clinic_id, homework_id=homework_id
    )


def _fields(body: BaseModel, *leave_out: str) -> dict[str, Any]:
    """The request's fields as given (nested models kept as models), for a domain command."""
    return {name: value for name, value in body if name not in leave_out}
