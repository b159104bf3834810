"""A client's safety plan, read side, from the plan's own stream: its revisions, decrypted, for
the client and the clinic's staff; and what the prep brief says of it (whether one exists, its
revision, when it last changed), which needs none of its words."""

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions.domain.events import SafetyPlanRevised
from rapport_sessions.domain.safety_plan import SafetyPlanContent, safety_plan_stream
from rapport_shared.contracts.errors import NotFound
from rapport_shared.eventsourcing.privatestore import PrivateEventStore


class SafetyPlanRevision(BaseModel):
    revision: int = Field(description="1 for the first plan, one more for each revision")
    revised_at: datetime
    revised_by: str
    content: SafetyPlanContent

    @classmethod
    def of(cls, event: SafetyPlanRevised) -> "SafetyPlanRevision":
        return cls(
            revision=event.revision,
            revised_at=event.revised_at,
            revised_by=event.revised_by,
            content=SafetyPlanContent.model_validate_json(event.plan),
        )


class SafetyPlanView(SafetyPlanRevision):
    """The plan as it stands: its latest revision."""

    client_id: str


class SafetyPlanRevisions(BaseModel):
    client_id: str
    revisions: list[SafetyPlanRevision] = Field(description="Every revision, oldest first")


class SafetyPlanStatus(BaseModel):
    """What the prep brief says of the plan: never its words."""

    exists: bool
    revision: int | None = None
    last_changed_at: datetime | None = None


def path(clinic_id: str, client_id: str) -> str:
    """Where the plan is read (and revised): what a risk flag points to."""
    return f"/clinics/{clinic_id}/clients/{client_id}/safety-plan"


async def revisions(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str
) -> list[SafetyPlanRevision]:
    """Every revision, oldest first. None is 404, for a client who has no plan and for an erased
    one, whose plan's words went with their key: a plan nobody can read is no plan."""
    if not await store.keys.is_erased(conn, clinic_id, client_id):
        events = await store.load_events(conn, safety_plan_stream(clinic_id, client_id))
        if found := [SafetyPlanRevision.of(e) for e in events if isinstance(e, SafetyPlanRevised)]:
            return found
    raise NotFound(f"client {client_id} has no safety plan", field="client_id")


async def latest(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str
) -> SafetyPlanView:
    return as_plan(client_id, (await revisions(conn, store, clinic_id, client_id))[-1])


def as_plan(client_id: str, revision: SafetyPlanRevision) -> SafetyPlanView:
    return SafetyPlanView(client_id=client_id, **dict(revision))


async def status(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str
) -> SafetyPlanStatus:
    """Whether the client has a plan, and its latest revision. A client without a key never had
    one written (the first revision makes the key) or is erased: no plan either way."""
    if await store.keys.key(conn, clinic_id, client_id) is None:
        return SafetyPlanStatus(exists=False)
    events = await store.load_events(conn, safety_plan_stream(clinic_id, client_id))
    revised = [event for event in events if isinstance(event, SafetyPlanRevised)]
    if not revised:
        return SafetyPlanStatus(exists=False)
    return SafetyPlanStatus(
        exists=True, revision=revised[-1].revision, last_changed_at=revised[-1].revised_at
    )
