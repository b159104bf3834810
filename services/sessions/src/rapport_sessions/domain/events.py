# rapport_shared ships no py.typed marker, so mypy sees its classes as Any; subclassing one is
# then an error under strict mode although nothing is wrong here.
"""The sessions service's private events. The public ones (SessionScheduled, SessionClosed) are
contracts in rapport_shared; these are stored in this service's event store and never published,
because note bodies must not leave the service."""

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import StringConstraints

from rapport_shared.contracts import EventRegistry, public_registry
from rapport_shared.contracts.base import AwareDatetime, EventContract

MAX_NOTE_CHARS = 20_000

# Not stripped: a note's own layout (indentation, blank lines) is part of the record; but it must
# say something, so at least one non-blank character is required.
NoteBody = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NOTE_CHARS, pattern=r"\S")]


class NoteRecorded(EventContract):
    event_type: ClassVar[str] = "note-recorded"
    service: ClassVar[str] = "sessions"
    public: ClassVar[bool] = False

    session_id: UUID
    body: NoteBody
    recorded_at: AwareDatetime


def sessions_registry() -> EventRegistry:
    """Every public contract (to read the goals events) plus this service's private events."""
    registry = public_registry()
    registry.register(NoteRecorded)
    return registry
