"""A client's safety plan, read side: its revisions from the plan's own stream, decrypted, for
the client and the clinic's staff; and what the prep brief says of it (whether one exists, its
revision, when it last changed) from prep_safety_plan_revisions, which holds no words."""

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions.domain.events import SafetyPlanRevised
from rapport_sessions.domain.safety_plan import SafetyPlanContent, safety_plan_stream
from rapport_sessions.tables import prep_safety_plan_revisions
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.errors import NotFound
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.persistence.upserts import Upsert


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


def revised(event: SafetyPlanRevised) -> Upsert:
    """The prep brief's row of a revision: a fact keyed by its own identity, so a replay of it
    changes nothing."""
    row = {
        "clinic_id": event.clinic_id,
        "client_id": event.client_id,
        "revision": event.revision,
        "revised_at": to_utc(event.revised_at),
    }
    return Upsert(prep_safety_plan_revisions, row)


async def status(conn: AsyncConnection, clinic_id: str, client_id: str) -> SafetyPlanStatus:
    columns = prep_safety_plan_revisions.c
    newest = (
        await conn.execute(
            select(columns.revision, columns.revised_at)
            .where(columns.clinic_id == clinic_id, columns.client_id == client_id)
            .order_by(columns.revision.desc())
            .limit(1)
        )
    ).one_or_none()
    if newest is None:
        return SafetyPlanStatus(exists=False)
    return SafetyPlanStatus(
        exists=True, revision=newest.revision, last_changed_at=to_utc(newest.revised_at)
    )
