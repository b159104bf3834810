"""HTTP API: parse the request, run the handler in one transaction, shape the response."""

from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from rapport_sessions import views
from rapport_sessions.domain.events import NoteBody
from rapport_sessions.service_layer import handlers
from rapport_sessions.views import ClientNotes, SessionState
from rapport_shared.clinic import CLINIC_SLUG_PATTERN
from rapport_shared.contracts.base import AwareDatetime, PersonId
from rapport_shared.contracts.sessions import AgreedGoal, AgreedHomework
from rapport_shared.runtime import ServiceRuntime

# Bounds keep one closing step (and so one event) a sensible size.
MAX_GOALS = 20
MAX_HOMEWORK = 50

ClinicId = Annotated[str, Path(pattern=CLINIC_SLUG_PATTERN, max_length=63)]
ClientId = Annotated[PersonId, Path()]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleSession(Command):
    session_id: UUID | None = Field(
        None, description="Supply one to make a retried request create nothing twice"
    )
    client_id: PersonId
    counselor_id: PersonId
    starts_at: AwareDatetime


class RecordNote(Command):
    body: NoteBody


class CloseSession(Command):
    expected_version: int | None = Field(
        None, ge=1, description="The version the caller saw; refused with 409 if it moved on"
    )
    next_session_at: AwareDatetime | None = None
    goals: list[AgreedGoal] = Field(default_factory=list, max_length=MAX_GOALS)
    homework: list[AgreedHomework] = Field(default_factory=list, max_length=MAX_HOMEWORK)


class NoteReceipt(BaseModel):
    session_id: UUID
    version: int


router = APIRouter(prefix="/clinics/{clinic_id}", tags=["sessions"])


@router.post("/sessions", status_code=201)
async def schedule_session(
    clinic_id: ClinicId, command: ScheduleSession, runtime: Runtime
) -> SessionState:
    async with runtime.transaction() as conn:
        session = await handlers.schedule_session(
            conn,
            runtime.store,
            clinic_id=clinic_id,
            session_id=command.session_id or uuid4(),
            client_id=command.client_id,
            counselor_id=command.counselor_id,
            starts_at=command.starts_at,
        )
    return SessionState.of(session)


@router.post("/sessions/{session_id}/notes", status_code=201)
async def record_note(
    clinic_id: ClinicId, session_id: UUID, command: RecordNote, runtime: Runtime
) -> NoteReceipt:
    async with runtime.transaction() as conn:
        session = await handlers.record_note(
            conn, runtime.store, clinic_id=clinic_id, session_id=session_id, body=command.body
        )
    return NoteReceipt(session_id=session.session_id, version=session.version)


@router.post("/sessions/{session_id}/close")
async def close_session(
    clinic_id: ClinicId, session_id: UUID, command: CloseSession, runtime: Runtime
) -> SessionState:
    async with runtime.transaction() as conn:
        session = await handlers.close_session(
            conn,
            runtime.store,
            clinic_id=clinic_id,
            session_id=session_id,
            expected_version=command.expected_version,
            next_session_at=command.next_session_at,
            goals=command.goals,
            homework=command.homework,
        )
    return SessionState.of(session)


@router.get("/sessions/{session_id}")
async def get_session(clinic_id: ClinicId, session_id: UUID, runtime: Runtime) -> SessionState:
    async with runtime.engine.connect() as conn:
        return await views.session_state(conn, runtime.store, clinic_id, session_id)


@router.get("/clients/{client_id}/notes")
async def get_client_notes(
    clinic_id: ClinicId, client_id: ClientId, runtime: Runtime
) -> ClientNotes:
    async with runtime.engine.connect() as conn:
        return await views.client_notes(conn, clinic_id, client_id)
