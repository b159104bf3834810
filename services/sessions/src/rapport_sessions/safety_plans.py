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


async def revisions(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str
) -> list[SafetyPlanRevision]:
    """Every revision, oldest first; none is 404."""
    if found := await _revised(conn, store, clinic_id, client_id):
        return [SafetyPlanRevision.of(event) for event in found]
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
    if not (found := await _revised(conn, store, clinic_id, client_id)):
        return SafetyPlanStatus(exists=False)
    return SafetyPlanStatus(
        exists=True, revision=found[-1].revision, last_changed_at=found[-1].revised_at
    )


async def _revised(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str
) -> list[SafetyPlanRevised]:
    """The plan's revisions, readable. A client without a key has none: no plan was ever written
    for them (the first revision makes the key), or they were erased and their plan's words went
    with the key, and a plan nobody can read is no plan."""
    if await store.keys.key(conn, clinic_id, client_id) is None:
        return []
    events = await store.load_events(conn, safety_plan_stream(clinic_id, client_id))
    return [event for event in events if isinstance(event, SafetyPlanRevised)]
