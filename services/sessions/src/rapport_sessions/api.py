"""HTTP API: parse the request, run the handler in one transaction, shape the response."""

from datetime import datetime
from typing import Annotated, Self
from uuid import UUID, uuid4

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from rapport_sessions import clients, prep_brief, safety_plans, views
from rapport_sessions.domain.model import MAX_REASON_CHARS, stream_id
from rapport_sessions.domain.notes import MAX_ADDENDUM_CHARS, MAX_SECTION_CHARS, NoteFormat
from rapport_sessions.domain.safety_plan import SafetyPlanContent
from rapport_sessions.prep_brief import PrepBrief
from rapport_sessions.safety_plans import SafetyPlanRevision, SafetyPlanRevisions, SafetyPlanView
from rapport_sessions.service_layer import handlers
from rapport_sessions.views import ClientNotes, ClientRecord, SessionState
from rapport_shared.contracts.base import PersonId
from rapport_shared.contracts.clinic import CLINIC_SLUG_PATTERN
from rapport_shared.contracts.errors import DomainError, NotFound
from rapport_shared.contracts.sessions import CancellationReason
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.runtime import commands
from rapport_shared.runtime.service import Runtime
from rapport_shared.security import audit, care_team
from rapport_shared.security.access import (
    FromPath,
    FromStream,
    authorize,
    authorize_create,
    principal_of,
    remember_owner,
)
from rapport_shared.security.policy import Action
from rapport_shared.web.request_models import (
    AgreedGoalRequest,
    AgreedHomeworkRequest,
    RequestTime,
    WholeNumber,
)

# Bounds keep one closing step (and so one event) a sensible size.
MAX_GOALS = 20
MAX_HOMEWORK = 50

ClinicId = Annotated[str, Path(pattern=CLINIC_SLUG_PATTERN, max_length=63)]
ClientId = Annotated[PersonId, Path()]
# The service runs on a store that keeps free text encrypted under each client's key.
Sessions = Runtime[PrivateEventStore]
# Who may call each route: rapport_shared.security.policy, and the matrix in docs/security.md.
THE_SESSION = FromStream("session_id", stream_id)
WRITE_SESSION = authorize(Action.WRITE, THE_SESSION)


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleSession(Command):
    session_id: UUID | None = Field(
        None, description="Supply one to make a retried request create nothing twice"
    )
    client_id: PersonId
    counselor_id: PersonId
    starts_at: RequestTime


SectionName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
SectionText = Annotated[str, StringConstraints(max_length=MAX_SECTION_CHARS)]


# Not stripped: a note's own layout (indentation, blank lines) is part of the record; but it must
# say something, so at least one non-blank character is required.
NoteBody = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SECTION_CHARS, pattern=r"\S")
]


class RecordNote(Command):
    """Either {format, sections} or, as before formats existed, {body} (a free-format note)."""

    format: NoteFormat | None = None
    sections: dict[SectionName, SectionText] | None = Field(None, max_length=10)
    body: NoteBody | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        if self.body is not None and (self.format is not None or self.sections is not None):
            raise DomainError("send either body or format and sections, not both", field="body")
        if self.body is None and (self.format is None or self.sections is None):
            missing = "format" if self.format is None else "sections"
            raise DomainError(f"{missing} is required (or a free-text body)", field=missing)
        return self

    def as_format(self) -> tuple[str, dict[str, str]]:
        if self.body is not None:
            return "free", {"text": self.body}
        assert self.format is not None and self.sections is not None  # checked above
        return self.format, self.sections


class CancelSession(Command):
    reason: CancellationReason
    explanation: str | None = Field(
        None, max_length=MAX_REASON_CHARS, description="Free text; stays in this service"
    )


class SignNote(Command):
    signed_by: PersonId


class WriteAddendum(Command):
    author: PersonId
    reason: str = Field(max_length=MAX_REASON_CHARS)
    text: str = Field(max_length=MAX_ADDENDUM_CHARS)


class CloseSession(Command):
    expected_version: Annotated[WholeNumber, Field(ge=1)] | None = Field(
        None, description="The version the caller saw; refused with 409 if it moved on"
    )
    next_session_at: RequestTime | None = None
    goals: list[AgreedGoalRequest] = Field(default_factory=list, max_length=MAX_GOALS)
    homework: list[AgreedHomeworkRequest] = Field(default_factory=list, max_length=MAX_HOMEWORK)


class NoteReceipt(BaseModel):
    session_id: UUID
    version: int


router = APIRouter(prefix="/clinics/{clinic_id}", tags=["sessions"])


@router.post(
    "/sessions",
    status_code=201,
    dependencies=[authorize_create("session_id", stream_id)],
)
async def schedule_session(
    clinic_id: ClinicId, command: ScheduleSession, runtime: Sessions, request: Request
) -> SessionState:
    session_id = command.session_id or uuid4()
    audit.created(request, session_id=session_id)
    async with runtime.transaction() as conn:
        session = await handlers.schedule_session(
            conn,
            runtime.store,
            clinic_id=clinic_id,
            session_id=session_id,
            client_id=command.client_id,
            counselor_id=command.counselor_id,
            starts_at=command.starts_at,
        )
    # Committed: the session's next command need not read who owns it.
    remember_owner(runtime.engine, stream_id(session_id), (clinic_id, command.client_id))
    return SessionState.of(session)


@router.post("/sessions/{session_id}/notes", status_code=201, dependencies=[WRITE_SESSION])
async def record_note(
    clinic_id: ClinicId, session_id: UUID, command: RecordNote, runtime: Sessions
) -> NoteReceipt:
    note_format, sections = command.as_format()
    session = await commands.run(
        runtime,
        handlers.record_note,
        clinic_id=clinic_id,
        session_id=session_id,
        note_format=note_format,
        sections=sections,
    )
    return NoteReceipt(session_id=session.session_id, version=session.version)


@router.post(
    "/sessions/{session_id}/notes/sign",
    dependencies=[authorize(Action.WRITE, THE_SESSION, acting_as=("signed_by",))],
)
async def sign_note(
    clinic_id: ClinicId, session_id: UUID, command: SignNote, runtime: Sessions
) -> SessionState:
    session = await commands.run(
        runtime,
        handlers.sign_note,
        clinic_id=clinic_id,
        session_id=session_id,
        signed_by=command.signed_by,
    )
    return SessionState.of(session)


@router.post(
    "/sessions/{session_id}/notes/addenda",
    status_code=201,
    dependencies=[authorize(Action.WRITE, THE_SESSION, acting_as=("author",))],
)
async def write_addendum(
    clinic_id: ClinicId, session_id: UUID, command: WriteAddendum, runtime: Sessions
) -> SessionState:
    session = await commands.run(
        runtime,
        handlers.add_addendum,
        clinic_id=clinic_id,
        session_id=session_id,
        author=command.author,
        reason=command.reason,
        text=command.text,
    )
    return SessionState.of(session)


@router.post("/sessions/{session_id}/start", dependencies=[WRITE_SESSION])
async def start_session(clinic_id: ClinicId, session_id: UUID, runtime: Sessions) -> SessionState:
    session = await commands.run(
        runtime, handlers.start_session, clinic_id=clinic_id, session_id=session_id
    )
    return SessionState.of(session)


@router.post("/sessions/{session_id}/cancel", dependencies=[WRITE_SESSION])
async def cancel_session(
    clinic_id: ClinicId, session_id: UUID, command: CancelSession, runtime: Sessions
) -> SessionState:
    session = await commands.run(
        runtime,
        handlers.cancel_session,
        clinic_id=clinic_id,
        session_id=session_id,
        reason=command.reason,
        explanation=command.explanation,
    )
    return SessionState.of(session)


@router.post("/sessions/{session_id}/no-show", dependencies=[WRITE_SESSION])
async def record_no_show(clinic_id: ClinicId, session_id: UUID, runtime: Sessions) -> SessionState:
    session = await commands.run(
        runtime, handlers.record_no_show, clinic_id=clinic_id, session_id=session_id
    )
    return SessionState.of(session)


@router.post("/sessions/{session_id}/close", dependencies=[WRITE_SESSION])
async def close_session(
    clinic_id: ClinicId, session_id: UUID, command: CloseSession, runtime: Sessions
) -> SessionState:
    session = await commands.run(
        runtime,
        handlers.close_session,
        clinic_id=clinic_id,
        session_id=session_id,
        expected_version=command.expected_version,
        next_session_at=command.next_session_at,
        goals=command.goals,
        homework=command.homework,
    )
    return SessionState.of(session)


@router.get("/sessions/{session_id}", dependencies=[authorize(Action.READ, THE_SESSION)])
async def get_session(clinic_id: ClinicId, session_id: UUID, runtime: Sessions) -> SessionState:
    async with runtime.engine.connect() as conn:
        return await views.session_state(conn, runtime.store, clinic_id, session_id)


@router.get("/clients/{client_id}/notes", dependencies=[authorize(Action.READ, FromPath())])
async def get_client_notes(
    clinic_id: ClinicId, client_id: ClientId, runtime: Sessions
) -> ClientNotes:
    async with runtime.engine.connect() as conn:
        return await views.client_notes(conn, runtime.store.keys, clinic_id, client_id)


@router.get("/clients/{client_id}/prep-brief", dependencies=[authorize(Action.READ, FromPath())])
async def get_prep_brief(clinic_id: ClinicId, client_id: ClientId, runtime: Sessions) -> PrepBrief:
    async with runtime.engine.connect() as conn:
        return await prep_brief.prep_brief(conn, runtime.store, clinic_id, client_id)


@router.get("/clients/{client_id}/record", dependencies=[authorize(Action.READ, FromPath())])
async def get_client_record(
    clinic_id: ClinicId,
    client_id: ClientId,
    as_of: Annotated[RequestTime, Query(description="An aware time, e.g. 2026-11-22T09:00Z")],
    runtime: Sessions,
) -> ClientRecord:
    async with runtime.engine.connect() as conn:
        return await views.client_record(conn, runtime.store, clinic_id, client_id, as_of)


class CareTeam(Command):
    counselor_ids: list[PersonId] = Field(max_length=50)


class CareTeamView(BaseModel):
    client_id: str
    counselor_ids: list[str]


@router.put(
    "/clients/{client_id}/care-team",
    dependencies=[authorize(Action.ADMINISTER, FromPath())],
    summary="Assign the counselors who may write to the client's record (clinic admins)",
)
async def set_care_team(
    clinic_id: ClinicId, client_id: ClientId, body: CareTeam, runtime: Sessions, request: Request
) -> CareTeamView:
    event = await commands.run(
        runtime,
        handlers.change_care_team,
        clinic_id=clinic_id,
        client_id=client_id,
        counselor_ids=body.counselor_ids,
        changed_by=principal_of(request).sub,
    )
    return CareTeamView(client_id=client_id, counselor_ids=list(event.counselor_ids))


@router.get("/clients/{client_id}/care-team", dependencies=[authorize(Action.READ, FromPath())])
async def get_care_team(
    clinic_id: ClinicId, client_id: ClientId, runtime: Sessions
) -> CareTeamView:
    async with runtime.engine.connect() as conn:
        team = await care_team.team_of(conn, clinic_id, client_id)
    return CareTeamView(client_id=client_id, counselor_ids=sorted(team))


SAFETY_PLAN = "/clients/{client_id}/safety-plan"


class ReviseSafetyPlan(Command):
    written_with_client: Annotated[bool, Strict()] = Field(
        description="That the plan was written with the client: false is refused"
    )
    revised_by: PersonId
    plan: SafetyPlanContent
    expected_revision: Annotated[WholeNumber, Field(ge=0)] | None = Field(
        None,
        description="The revision the caller saw (0: none yet); refused with 409 if it moved on",
    )


@router.put(
    SAFETY_PLAN,
    dependencies=[authorize(Action.WRITE, FromPath(), acting_as=("revised_by",))],
    summary="Write or revise the client's safety plan, with the client: a new revision",
)
async def revise_safety_plan(
    clinic_id: ClinicId, client_id: ClientId, command: ReviseSafetyPlan, runtime: Sessions
) -> SafetyPlanView:
    """Every revision is kept; the plan is stored encrypted under the client's key and never
    published."""
    event = await commands.run(
        runtime,
        handlers.revise_safety_plan,
        clinic_id=clinic_id,
        client_id=client_id,
        content=command.plan,
        revised_by=command.revised_by,
        written_with_client=command.written_with_client,
        expected_revision=command.expected_revision,
    )
    return safety_plans.as_plan(client_id, SafetyPlanRevision.of(event))


@router.get(SAFETY_PLAN, dependencies=[authorize(Action.CLIENT_READ, FromPath())])
async def get_safety_plan(
    clinic_id: ClinicId, client_id: ClientId, runtime: Sessions
) -> SafetyPlanView:
    """The plan as it stands (its latest revision); 404 if there is none."""
    async with runtime.engine.connect() as conn:
        return await safety_plans.latest(conn, runtime.store, clinic_id, client_id)


@router.get(f"{SAFETY_PLAN}/revisions", dependencies=[authorize(Action.CLIENT_READ, FromPath())])
async def get_safety_plan_revisions(
    clinic_id: ClinicId, client_id: ClientId, runtime: Sessions
) -> SafetyPlanRevisions:
    """Every revision of the plan, oldest first; 404 if there is none."""
    async with runtime.engine.connect() as conn:
        found = await safety_plans.revisions(conn, runtime.store, clinic_id, client_id)
    return SafetyPlanRevisions(client_id=client_id, revisions=found)


DisplayName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=r"\S")
]


class SaveProfile(Command):
    display_name: DisplayName
    updated_by: PersonId


class ClientProfile(BaseModel):
    client_id: str
    display_name: str = Field(description="Empty once the client is erased")
    updated_at: datetime


class EraseClient(Command):
    erased_by: PersonId


class Erasure(BaseModel):
    client_id: str
    erased_by: str
    erased_at: datetime


@router.put("/clients/{client_id}/profile", dependencies=[authorize(Action.WRITE, FromPath())])
async def save_client_profile(
    clinic_id: ClinicId, client_id: ClientId, command: SaveProfile, runtime: Sessions
) -> ClientProfile:
    """The client's name: stored encrypted under the client's key, never published."""
    event = await commands.run(
        runtime,
        handlers.save_profile,
        clinic_id=clinic_id,
        client_id=client_id,
        display_name=command.display_name,
        updated_by=command.updated_by,
    )
    return ClientProfile(
        client_id=client_id, display_name=event.display_name, updated_at=event.updated_at
    )


@router.get(
    "/clients/{client_id}/profile", dependencies=[authorize(Action.CLIENT_READ, FromPath())]
)
async def get_client_profile(
    clinic_id: ClinicId, client_id: ClientId, runtime: Sessions
) -> ClientProfile:
    async with runtime.engine.connect() as conn:
        profile = await clients.profile(conn, runtime.store, clinic_id, client_id)
    if profile is None:
        raise NotFound(f"client {client_id} has no profile", field="client_id")
    return ClientProfile(
        client_id=client_id, display_name=profile.display_name, updated_at=profile.updated_at
    )


@router.post(
    "/clients/{client_id}/erasure",
    status_code=201,
    dependencies=[authorize(Action.ADMINISTER, FromPath(), acting_as=("erased_by",))],
)
async def erase_client(
    clinic_id: ClinicId, client_id: ClientId, command: EraseClient, runtime: Sessions
) -> Erasure:
    """Erase a client (clinic admins): their key is destroyed, so every word kept about them
    here becomes unreadable; their rows leave the projections; client-erased tells the other
    services to do the same. Ids, dates and scores in the event log stay."""
    event = await commands.run(
        runtime,
        handlers.erase_client,
        clinic_id=clinic_id,
        client_id=client_id,
        erased_by=command.erased_by,
    )
    # Its commit also cleared the SQLite WAL of the deleted rows and the key (erase_on_commit).
    return Erasure(client_id=client_id, erased_by=event.erased_by, erased_at=event.erased_at)
