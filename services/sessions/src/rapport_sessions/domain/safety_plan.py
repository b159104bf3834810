"""A client's safety plan, in the structure of the Stanley-Brown Safety Planning Intervention
(Stanley & Brown (2012), Cognitive and Behavioral Practice 19(2):256-264): the steps a client
takes, in order, when a crisis builds, written with the client by a counselor on their care team.

Every revision is kept (stream safety-plan-<clinic>-<client>, one safety-plan-revised event per
revision, its text encrypted under the client's key like notes); the latest is the plan. Nothing
of it is published: the prep brief and a risk alert say only whether one exists, its revision and
when it last changed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rapport_sessions.domain.events import SafetyPlanRevised
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import DomainError

MAX_ENTRIES = 20
MAX_ENTRY_CHARS = 500

Entry = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ENTRY_CHARS)
]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^[0-9+()#*. -]+$")
]


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Entry
    phone: Phone | None = None


Entries = Annotated[tuple[Entry, ...], Field(max_length=MAX_ENTRIES)]
Contacts = Annotated[tuple[Contact, ...], Field(max_length=MAX_ENTRIES)]


class SafetyPlanContent(BaseModel):
    """The seven parts, in the intervention's order; each a list the client can read aloud."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warning_signs: Entries = Field(
        (),
        description="Thoughts, images, moods, situations or behaviours that a crisis may be near",
    )
    internal_coping_strategies: Entries = Field(
        (), description="Things to take the mind off problems without contacting anyone"
    )
    people_and_places_that_distract: Entries = Field(
        (), description="People and social settings that provide distraction"
    )
    people_to_ask_for_help: Contacts = ()
    professionals_and_crisis_lines: Contacts = Field(
        (), description="Clinicians, urgent care and crisis lines to contact during a crisis"
    )
    making_the_environment_safe: Entries = Field(
        (), description="Steps to limit access to lethal means"
    )
    reasons_for_living: Entries = Field(
        (), description="The things most important to the client and worth living for"
    )

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in type(self).model_fields)


def safety_plan_stream(clinic_id: str, client_id: str) -> str:
    return f"safety-plan-{clinic_id}-{client_id}"


@dataclass
class SafetyPlan:
    clinic_id: str
    client_id: str
    revision: int = 0
    content: SafetyPlanContent | None = None
    revised_by: str | None = None
    revised_at: datetime | None = None
    version: int = 0

    @classmethod
    def from_history(
        cls, clinic_id: str, client_id: str, events: Sequence[EventContract]
    ) -> "SafetyPlan":
        """The plan as its revisions left it; no history is a client without a plan yet."""
        plan = cls(clinic_id, client_id)
        for event in events:
            plan.apply(event)
        return plan

    def apply(self, event: EventContract) -> None:
        if isinstance(event, SafetyPlanRevised):
            self.revision = event.revision
            self.content = SafetyPlanContent.model_validate_json(event.plan)
            self.revised_by = event.revised_by
            self.revised_at = event.revised_at
        self.version += 1

    def revise(
        self, content: SafetyPlanContent, by: str, written_with_client: bool, at: datetime
    ) -> SafetyPlanRevised:
        if not written_with_client:
            raise DomainError(
                "a safety plan is written with the client: confirm written_with_client",
                field="written_with_client",
            )
        if content.is_empty():
            raise DomainError("a safety plan needs at least one entry", field="warning_signs")
        return SafetyPlanRevised(
            clinic_id=self.clinic_id,
            client_id=self.client_id,
            revision=self.revision + 1,
            plan=content.model_dump_json(),
            revised_by=by,
            revised_at=at,
        )
