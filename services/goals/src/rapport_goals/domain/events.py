"""The goals service's private events: stored in this service's event store, never published,
because what a client writes in their journal must not leave the service."""

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import StringConstraints

from rapport_shared.contracts import EventRegistry, public_registry
from rapport_shared.contracts.base import AwareDatetime, EventContract

MAX_JOURNAL_CHARS = 20_000

# Not stripped: the client's own layout is part of what they wrote; but it must say something.
JournalText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_JOURNAL_CHARS, pattern=r"\S")
]


class HomeworkJournalWritten(EventContract):
    """What the client wrote with a completion; due_at names the occurrence it belongs to."""

    event_type: ClassVar[str] = "homework-journal-written"
    service: ClassVar[str] = "goals"
    public: ClassVar[bool] = False

    homework_id: UUID
    due_at: AwareDatetime
    journal: JournalText
    written_at: AwareDatetime


def goals_registry() -> EventRegistry:
    """Every public contract (to read session-closed) plus this service's private events."""
    registry = public_registry()
    registry.register(HomeworkJournalWritten)
    return registry
