"""What this service knows of one homework of the goals service, and the reminders it leads to:
one homework-due reminder per occurrence (a lead time before it), a recognition per completion.

Events of different streams may arrive in any order, so the aggregate remembers completions,
misses and the cancellation even before it has seen the assignment: a later assignment then
schedules nothing for what is already done.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from rapport_notifications.domain.events import (
    HomeworkAssignmentNoted,
    HomeworkCancellationNoted,
    HomeworkCompletionNoted,
    HomeworkMissNoted,
    ReminderFacts,
)
from rapport_notifications.domain.model import (
    HOMEWORK_DUE,
    RECOGNITION,
    About,
    Cancellation,
    FollowUp,
    reminder_id_for,
    reminder_time,
    schedule_reminder,
)
from rapport_notifications.domain.occurrences import occurrences
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import (
    HomeworkAssigned,
    HomeworkCancelled,
    HomeworkCompleted,
    HomeworkMissed,
)
from rapport_shared.contracts.sessions import HomeworkType


def homework_stream(homework_id: UUID) -> str:
    return f"homework-{homework_id}"


@dataclass
class Homework:
    homework_id: UUID
    assignment: HomeworkAssignmentNoted | None = None
    # Occurrences (by due time, UTC timestamp) completed or missed.
    closed: set[float] = field(default_factory=set)
    ended: bool = False  # completed for good, or cancelled

    @classmethod
    def from_history(cls, homework_id: UUID, events: Sequence[EventContract]) -> "Homework":
        """Named by its subject: nothing may be noted yet (the first event about it)."""
        homework = cls(homework_id)
        for event in events:
            homework.apply(event)
        return homework

    def apply(self, event: EventContract) -> None:
        match event:
            case HomeworkAssignmentNoted():
                self.assignment = event
            case HomeworkCompletionNoted():
                if event.due_at is not None:
                    self.closed.add(event.due_at.timestamp())
                self.ended = self.ended or event.final
            case HomeworkMissNoted():
                self.closed.add(event.due_at.timestamp())
            case HomeworkCancellationNoted():
                self.ended = True
            case _:
                raise ValueError(f"{event.event_type} does not belong to a homework")

    @property
    def homework_type(self) -> HomeworkType | None:
        return self.assignment.homework_type if self.assignment else None

    def assign(
        self, assigned: HomeworkAssigned, now: datetime, default_lead: timedelta
    ) -> FollowUp:
        if self.assignment is not None:
            return FollowUp()  # seen before: a copy of the assignment under a new event id
        noted: list[EventContract] = [
            HomeworkAssignmentNoted(
                clinic_id=assigned.clinic_id,
                homework_id=self.homework_id,
                client_id=assigned.client_id,
                homework_type=assigned.type,
                due_at=assigned.due_at,
                recurrence=assigned.recurrence,
            )
        ]
        if self.ended:
            return FollowUp(noted)
        minutes = assigned.reminder_lead_minutes  # the homework's own preference, if any
        lead = default_lead if minutes is None else timedelta(minutes=minutes)
        about = About(client_id=assigned.client_id, homework_id=self.homework_id)
        new = []
        for due_at in occurrences(assigned.due_at, assigned.recurrence):
            remind_at = reminder_time(due_at, now, lead)
            if remind_at is None or due_at.timestamp() in self.closed:
                continue
            new.append(
                schedule_reminder(
                    reminder_id=reminder_id_for(self.homework_id, HOMEWORK_DUE, due_at),
                    clinic_id=assigned.clinic_id,
                    kind=HOMEWORK_DUE,
                    recipient_id=assigned.client_id,
                    due_at=remind_at,
                    about=about,
                    facts=ReminderFacts(homework_type=assigned.type, occurrence_at=due_at),
                )
            )
        return FollowUp(noted, new)

    def complete(self, completion: HomeworkCompleted, now: datetime) -> FollowUp:
        if completion.due_at.timestamp() in self.closed or self.ended:
            return FollowUp()  # a copy of a completion already noted
        noted: list[EventContract] = [
            HomeworkCompletionNoted(
                clinic_id=completion.clinic_id,
                homework_id=self.homework_id,
                completed_at=completion.completed_at,
                due_at=completion.due_at,
                final=completion.final,
            )
        ]
        recognition = schedule_reminder(
            reminder_id=reminder_id_for(self.homework_id, RECOGNITION, completion.due_at),
            clinic_id=completion.clinic_id,
            kind=RECOGNITION,
            recipient_id=completion.client_id,
            due_at=now,
            about=About(client_id=completion.client_id, homework_id=self.homework_id),
            facts=ReminderFacts(homework_type=self.homework_type, occurrence_at=completion.due_at),
        )
        if completion.final:
            cancel = Cancellation(
                "homework-completed", subject_id=self.homework_id, kinds=(HOMEWORK_DUE,)
            )
        else:
            cancel = Cancellation("homework-completed", ids=(self._due_id(completion.due_at),))
        return FollowUp(noted, [recognition], cancel)

    def miss(self, missed: HomeworkMissed) -> FollowUp:
        if missed.due_at.timestamp() in self.closed:
            return FollowUp()
        noted: list[EventContract] = [
            HomeworkMissNoted(
                clinic_id=missed.clinic_id, homework_id=self.homework_id, due_at=missed.due_at
            )
        ]
        return FollowUp(
            noted, cancel=Cancellation("homework-missed", ids=(self._due_id(missed.due_at),))
        )

    def cancel(self, cancelled: HomeworkCancelled) -> FollowUp:
        if self.ended:
            return FollowUp()
        noted: list[EventContract] = [
            HomeworkCancellationNoted(
                clinic_id=cancelled.clinic_id,
                homework_id=self.homework_id,
                cancelled_at=cancelled.cancelled_at,
            )
        ]
        return FollowUp(
            noted,
            cancel=Cancellation(
                "homework-cancelled", subject_id=self.homework_id, kinds=(HOMEWORK_DUE,)
            ),
        )

    def _due_id(self, due_at: datetime) -> UUID:
        return reminder_id_for(self.homework_id, HOMEWORK_DUE, due_at)
