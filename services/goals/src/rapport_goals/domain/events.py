"""The goals service's private events: stored in this service's event store, never published,
because what a client writes in their journal, a goal's words and a homework's instructions must
not leave the service. Their free text is stored encrypted under the client's key
(encrypted_fields; rapport_shared.eventsourcing.privatestore); the client_id they carry names that
key (journal entries stored before encryption have none, and clear text)."""

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import StringConstraints

from rapport_shared.contracts import EventRegistry, public_registry
from rapport_shared.contracts.base import AwareDatetime, EventContract, PersonId

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
    encrypted_fields: ClassVar[tuple[str, ...]] = ("journal",)

    homework_id: UUID
    client_id: PersonId | None = None
    due_at: AwareDatetime
    journal: JournalText
    written_at: AwareDatetime


class GoalWorded(EventContract):
    """A goal's words as they now stand, whole (rapport_shared.contracts.plan.GoalWording as JSON):
    appended with goal-agreed, and with a goal-revised that changed them."""

    event_type: ClassVar[str] = "goal-worded"
    service: ClassVar[str] = "goals"
    public: ClassVar[bool] = False
    encrypted_fields: ClassVar[tuple[str, ...]] = ("wording",)

    goal_id: UUID
    client_id: PersonId
    wording: str


class HomeworkInstructed(EventContract):
    """A homework's instructions, appended with homework-assigned."""

    event_type: ClassVar[str] = "homework-instructed"
    service: ClassVar[str] = "goals"
    public: ClassVar[bool] = False
    encrypted_fields: ClassVar[tuple[str, ...]] = ("instructions",)

    homework_id: UUID
    client_id: PersonId
    instructions: str


def goals_registry() -> EventRegistry:
    """Every public contract (to read session-closed) plus this service's private events."""
    registry = public_registry()
    for contract in (HomeworkJournalWritten, GoalWorded, HomeworkInstructed):
        registry.register(contract)
    return registry
