"""The sessions service's private events. The public ones (session-scheduled, -started, -closed,
-cancelled, -no-show, note-signed, client-erased) are contracts in rapport_shared; these are
stored in this service's event store and never published, because note text, addenda, free-text
reasons, the plan's words and clients' names must not leave the service. Their free text is
stored encrypted under the client's key (encrypted_fields;
rapport_shared.eventsourcing.privatestore); the client_id they carry names that key (events stored
before encryption have none, and clear text).
"""

from typing import Any, ClassVar
from uuid import UUID

from rapport_shared.contracts import EventRegistry, public_registry
from rapport_shared.contracts.base import AwareDatetime, EventContract, PersonId


class NoteRecorded(EventContract):
    """The session's note in one of the formats; recording again replaces it (until signed).

    v1 had a single free-text body; the registry upcasts it to a free-format note."""

    event_type: ClassVar[str] = "note-recorded"
    service: ClassVar[str] = "sessions"
    schema_version: ClassVar[int] = 2
    public: ClassVar[bool] = False

    encrypted_fields: ClassVar[tuple[str, ...]] = ("sections",)

    session_id: UUID
    client_id: PersonId | None = None
    format: str
    sections: dict[str, str]
    recorded_at: AwareDatetime


class CancellationExplained(EventContract):
    """The free-text explanation given with a cancellation (the coded reason is public)."""

    event_type: ClassVar[str] = "cancellation-explained"
    service: ClassVar[str] = "sessions"
    public: ClassVar[bool] = False
    encrypted_fields: ClassVar[tuple[str, ...]] = ("explanation",)

    session_id: UUID
    client_id: PersonId | None = None
    explanation: str


class AddendumWritten(EventContract):
    """Text added to a signed note; the signed note itself never changes."""

    event_type: ClassVar[str] = "addendum-written"
    service: ClassVar[str] = "sessions"
    public: ClassVar[bool] = False
    encrypted_fields: ClassVar[tuple[str, ...]] = ("reason", "text")

    session_id: UUID
    client_id: PersonId | None = None
    author: PersonId
    reason: str
    text: str
    added_at: AwareDatetime


class PlanWorded(EventContract):
    """The words of the plan a session closed with (session-closed carries its structure):
    goals[i] is goal i's wording as JSON (rapport_shared.contracts.plan.GoalWording), homework[j]
    the instructions of homework j. Appended together with session-closed."""

    event_type: ClassVar[str] = "plan-worded"
    service: ClassVar[str] = "sessions"
    public: ClassVar[bool] = False
    encrypted_fields: ClassVar[tuple[str, ...]] = ("goals", "homework")

    session_id: UUID
    client_id: PersonId
    goals: tuple[str, ...] = ()
    homework: tuple[str, ...] = ()


class ClientProfileUpdated(EventContract):
    """A client's profile: the name to show them by. Never on the bus."""

    event_type: ClassVar[str] = "client-profile-updated"
    service: ClassVar[str] = "sessions"
    public: ClassVar[bool] = False
    encrypted_fields: ClassVar[tuple[str, ...]] = ("display_name",)

    client_id: PersonId
    display_name: str
    updated_by: PersonId
    updated_at: AwareDatetime


class SafetyPlanRevised(EventContract):
    """A revision of a client's safety plan, whole: plan is the Stanley-Brown content as JSON
    (rapport_sessions.domain.safety_plan.SafetyPlanContent). Never on the bus."""

    event_type: ClassVar[str] = "safety-plan-revised"
    service: ClassVar[str] = "sessions"
    public: ClassVar[bool] = False
    encrypted_fields: ClassVar[tuple[str, ...]] = ("plan",)

    client_id: PersonId
    revision: int
    plan: str
    revised_by: PersonId
    revised_at: AwareDatetime


def _note_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    upcast = {key: value for key, value in data.items() if key != "body"}
    return {**upcast, "format": "free", "sections": {"text": data["body"]}}


def sessions_registry() -> EventRegistry:
    """Every public contract (to read the goals events) plus this service's private events."""
    registry = public_registry()
    private = (
        NoteRecorded,
        CancellationExplained,
        AddendumWritten,
        PlanWorded,
        ClientProfileUpdated,
        SafetyPlanRevised,
    )
    for contract in private:
        registry.register(contract)
    registry.register_upcaster(NoteRecorded.event_type, 1, _note_v1_to_v2)
    return registry
