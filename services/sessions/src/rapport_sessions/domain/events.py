"""The sessions service's private events. The public ones (session-scheduled, -started, -closed,
-cancelled, -no-show, note-signed) are contracts in rapport_shared; these are stored in this
service's event store and never published, because note text, addenda and free-text reasons
must not leave the service."""

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

    session_id: UUID
    format: str
    sections: dict[str, str]
    recorded_at: AwareDatetime


class CancellationExplained(EventContract):
    """The free-text explanation given with a cancellation (the coded reason is public)."""

    event_type: ClassVar[str] = "cancellation-explained"
    service: ClassVar[str] = "sessions"
    public: ClassVar[bool] = False

    session_id: UUID
    explanation: str


class AddendumWritten(EventContract):
    """Text added to a signed note; the signed note itself never changes."""

    event_type: ClassVar[str] = "addendum-written"
    service: ClassVar[str] = "sessions"
    public: ClassVar[bool] = False

    session_id: UUID
    author: PersonId
    reason: str
    text: str
    added_at: AwareDatetime


def _note_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    upcast = {key: value for key, value in data.items() if key != "body"}
    return {**upcast, "format": "free", "sections": {"text": data["body"]}}


def sessions_registry() -> EventRegistry:
    """Every public contract (to read the goals events) plus this service's private events."""
    registry = public_registry()
    for contract in (NoteRecorded, CancellationExplained, AddendumWritten):
        registry.register(contract)
    registry.register_upcaster(NoteRecorded.event_type, 1, _note_v1_to_v2)
    return registry
