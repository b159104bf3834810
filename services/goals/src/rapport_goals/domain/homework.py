"""The homework aggregate: assigned once or on a recurrence, each occurrence completed, missed,
or left open; cancelled as a whole.

Occurrences are fulfilled in order: a completion fulfils the earliest open one and a miss is the
earliest open one whose due time passed, so the open occurrences are always the schedule's tail.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from rapport_goals.domain import recurrence as schedule
from rapport_goals.domain.commands import AssignHomework, CompleteHomework
from rapport_goals.domain.events import HomeworkInstructed, HomeworkJournalWritten
from rapport_goals.domain.goal import Goal
from rapport_goals.domain.status import TERMINAL
from rapport_shared.contracts import plan_rules
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import DomainError, InvalidState
from rapport_shared.contracts.goals import (
    HomeworkAssigned,
    HomeworkCancelled,
    HomeworkCompleted,
    HomeworkMissed,
)
from rapport_shared.contracts.sessions import Recurrence


def homework_stream(homework_id: UUID) -> str:
    return f"homework-{homework_id}"


@dataclass
class Homework:
    homework_id: UUID
    clinic_id: str
    client_id: str
    goal_id: UUID | None
    due_at: datetime
    assigned_at: datetime
    completed_at: datetime | None
    version: int
    recurrence: Recurrence | None = None
    # Occurrences completed or missed so far: the next open one is occurrences()[fulfilled].
    fulfilled: int = 0
    cancelled: bool = False

    @staticmethod
    def assign(
        command: AssignHomework, goal: Goal | None, assigned_at: datetime
    ) -> HomeworkAssigned:
        """goal is the one command.goal_id names, as found (None when there is no such goal)."""
        if command.goal_id is not None and (
            goal is None
            or goal.goal_id != command.goal_id
            or (goal.clinic_id, goal.client_id) != (command.clinic_id, command.client_id)
        ):
            raise DomainError(
                f"goal {command.goal_id} is not a goal of client {command.client_id}",
                field="goal_id",
            )
        if goal is not None and goal.lifecycle_status in TERMINAL:
            raise DomainError(
                f"goal {goal.goal_id} is {goal.lifecycle_status}: it takes no new homework",
                field="goal_id",
            )
        plan_rules.check_schedule(command.due_at, command.recurrence, assigned_at)
        return HomeworkAssigned(
            clinic_id=command.clinic_id,
            homework_id=command.homework_id,
            goal_id=command.goal_id,
            session_id=command.session_id,
            client_id=command.client_id,
            counselor_id=command.counselor_id,
            due_at=command.due_at,
            assigned_at=assigned_at,
            type=command.type,
            recurrence=command.recurrence,
            reminder_lead_minutes=command.reminder_lead_minutes,
        )

    @staticmethod
    def instructed(command: AssignHomework) -> HomeworkInstructed:
        """The instructions of a homework being assigned, for this service's own record."""
        return HomeworkInstructed(
            clinic_id=command.clinic_id,
            homework_id=command.homework_id,
            client_id=command.client_id,
            instructions=command.instructions,
        )

    @classmethod
    def from_history(cls, events: Sequence[EventContract]) -> "Homework":
        first, *rest = events
        if not isinstance(first, HomeworkAssigned):
            raise ValueError(f"a homework's history starts with homework-assigned, not {first!r}")
        homework = cls(
            homework_id=first.homework_id,
            clinic_id=first.clinic_id,
            client_id=first.client_id,
            goal_id=first.goal_id,
            due_at=first.due_at,
            assigned_at=first.assigned_at,
            completed_at=None,
            version=1,
            recurrence=first.recurrence,
        )
        for event in rest:
            homework.apply(event)
        return homework

    def apply(self, event: EventContract) -> None:
        match event:
            case HomeworkCompleted():
                self.completed_at = event.completed_at
                self.fulfilled += 1
            case HomeworkMissed():
                self.fulfilled += 1
            case HomeworkCancelled():
                self.cancelled = True
            case HomeworkInstructed() | HomeworkJournalWritten():
                pass  # its words, kept for the client's record: no decision depends on them
            case _:
                raise ValueError(f"a homework does not apply {event.event_type}")
        self.version += 1

    def occurrences(self) -> list[datetime]:
        return schedule.occurrences(self.due_at, self.recurrence)

    def open_occurrences(self) -> list[datetime]:
        return [] if self.cancelled else self.occurrences()[self.fulfilled :]

    def complete(
        self, command: CompleteHomework, now: datetime
    ) -> list[HomeworkCompleted | HomeworkJournalWritten]:
        """The completion, and the journal entry as a private event when the client wrote one."""
        completed_at = command.completed_at or now
        self._refuse_if_cancelled()
        open_due = self.open_occurrences()
        if not open_due:
            raise InvalidState(
                f"homework {self.homework_id} has no occurrence left to complete"
                + (f" (completed at {self.completed_at.isoformat()})" if self.completed_at else ""),
                field="homework_id",
            )
        if completed_at > now:
            raise DomainError("completed_at must not be in the future", field="completed_at")
        if completed_at < self.assigned_at:
            raise DomainError(
                "completed_at must not be before the homework was assigned", field="completed_at"
            )
        completed = HomeworkCompleted(
            clinic_id=self.clinic_id,
            homework_id=self.homework_id,
            goal_id=self.goal_id,
            client_id=self.client_id,
            due_at=open_due[0],
            completed_at=completed_at,
            self_rating=command.self_rating,
            final=len(open_due) == 1,
        )
        if command.journal is None:
            return [completed]
        journal = HomeworkJournalWritten(
            clinic_id=self.clinic_id,
            homework_id=self.homework_id,
            client_id=self.client_id,
            due_at=open_due[0],
            journal=command.journal,
            written_at=now,
        )
        return [completed, journal]

    def missed(self, now: datetime, grace: timedelta = timedelta(0)) -> list[HomeworkMissed]:
        """One event per open occurrence due more than `grace` ago; none when there is none, so
        checking again records nothing twice. Until then a late completion still fulfils it."""
        return [
            HomeworkMissed(
                clinic_id=self.clinic_id,
                homework_id=self.homework_id,
                goal_id=self.goal_id,
                client_id=self.client_id,
                due_at=due_at,
                recorded_at=now,
            )
            for due_at in self.open_occurrences()
            if due_at + grace < now
        ]

    def cancel(self, now: datetime) -> HomeworkCancelled:
        self._refuse_if_cancelled()
        if not self.open_occurrences():
            raise InvalidState(
                f"homework {self.homework_id} has ended: nothing left to cancel",
                field="homework_id",
            )
        return HomeworkCancelled(
            clinic_id=self.clinic_id,
            homework_id=self.homework_id,
            client_id=self.client_id,
            cancelled_at=now,
        )

    def _refuse_if_cancelled(self) -> None:
        if self.cancelled:
            raise InvalidState(f"homework {self.homework_id} was cancelled", field="homework_id")
