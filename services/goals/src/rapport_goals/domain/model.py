"""Goals and homework: the rules, and the plan a closed session turns into.

Aggregates are rebuilt from their own events (from_history) and answer a command with the event
that records it; a broken rule raises a DomainError naming the input field at fault.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid5

from rapport_goals.domain.commands import AgreeGoal, AssignHomework
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import GoalAgreed, HomeworkAssigned, HomeworkCompleted
from rapport_shared.contracts.sessions import SessionClosed
from rapport_shared.errors import DomainError, InvalidState, NotFound

# The last time zone to leave a calendar day is UTC-12: a due date counts as past only once that
# day is over everywhere, so a counselor anywhere may agree a goal due "today".
_LATEST_UTC_OFFSET = timedelta(hours=12)


def goal_stream(goal_id: UUID) -> str:
    return f"goal-{goal_id}"


def homework_stream(homework_id: UUID) -> str:
    return f"homework-{homework_id}"


@dataclass(frozen=True)
class Goal:
    goal_id: UUID
    clinic_id: str
    client_id: str

    @staticmethod
    def agree(command: AgreeGoal, agreed_at: datetime) -> GoalAgreed:
        if command.due_date < _earliest_current_date(agreed_at):
            raise DomainError(f"due date {command.due_date} is in the past", field="due_date")
        return GoalAgreed(
            clinic_id=command.clinic_id,
            goal_id=command.goal_id,
            client_id=command.client_id,
            counselor_id=command.counselor_id,
            session_id=command.session_id,
            description=command.description,
            measure=command.measure,
            target=command.target,
            due_date=command.due_date,
            agreed_at=agreed_at,
        )

    @classmethod
    def from_history(cls, events: Sequence[EventContract]) -> "Goal | None":
        """None when the goal was never agreed."""
        for event in events:
            if isinstance(event, GoalAgreed):
                return cls(event.goal_id, event.clinic_id, event.client_id)
        return None


@dataclass(frozen=True)
class Homework:
    homework_id: UUID
    clinic_id: str
    client_id: str
    goal_id: UUID | None
    due_at: datetime
    assigned_at: datetime
    completed_at: datetime | None
    version: int

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
        if command.due_at <= assigned_at:
            raise DomainError("homework must be due after it is assigned", field="due_at")
        return HomeworkAssigned(
            clinic_id=command.clinic_id,
            homework_id=command.homework_id,
            goal_id=command.goal_id,
            session_id=command.session_id,
            client_id=command.client_id,
            counselor_id=command.counselor_id,
            instructions=command.instructions,
            due_at=command.due_at,
            assigned_at=assigned_at,
        )

    @classmethod
    def from_history(
        cls, clinic_id: str, homework_id: UUID, events: Sequence[EventContract]
    ) -> "Homework":
        """The homework as its events left it; another clinic's is as unknown as a missing one."""
        homework: Homework | None = None
        for version, event in enumerate(events, start=1):
            if isinstance(event, HomeworkAssigned):
                homework = cls(
                    homework_id=event.homework_id,
                    clinic_id=event.clinic_id,
                    client_id=event.client_id,
                    goal_id=event.goal_id,
                    due_at=event.due_at,
                    assigned_at=event.assigned_at,
                    completed_at=None,
                    version=version,
                )
            elif isinstance(event, HomeworkCompleted) and homework is not None:
                homework = replace(homework, completed_at=event.completed_at, version=version)
        if homework is None or homework.clinic_id != clinic_id:
            raise NotFound(f"no homework {homework_id} in clinic {clinic_id}", field="homework_id")
        return homework

    def complete(self, completed_at: datetime, now: datetime) -> HomeworkCompleted:
        if self.completed_at is not None:
            raise InvalidState(
                f"homework {self.homework_id} was already completed at "
                f"{self.completed_at.isoformat()}",
                field="homework_id",
            )
        if completed_at > now:
            raise DomainError("completed_at must not be in the future", field="completed_at")
        if completed_at < self.assigned_at:
            raise DomainError(
                "completed_at must not be before the homework was assigned", field="completed_at"
            )
        return HomeworkCompleted(
            clinic_id=self.clinic_id,
            homework_id=self.homework_id,
            goal_id=self.goal_id,
            client_id=self.client_id,
            due_at=self.due_at,
            completed_at=completed_at,
        )


def plan_from_session(session: SessionClosed) -> list[tuple[str, GoalAgreed | HomeworkAssigned]]:
    """The goals and homework a closed session agreed, each with the stream it starts.

    Ids derive from the session, so the same session-closed, however often it arrives, always
    names the same streams. The rules are judged as of the close, not of the delivery, so a late
    redelivery plans exactly what a prompt one did.
    """
    goals = [
        Goal.agree(
            AgreeGoal(
                clinic_id=session.clinic_id,
                goal_id=_derived_id(session, "goal", index),
                client_id=session.client_id,
                counselor_id=session.counselor_id,
                session_id=session.session_id,
                description=agreed.description,
                measure=agreed.measure,
                target=agreed.target,
                due_date=agreed.due_date,
            ),
            agreed_at=session.closed_at,
        )
        for index, agreed in enumerate(session.goals)
    ]
    homework = []
    for index, agreed_homework in enumerate(session.homework):
        goal = _goal_at(goals, agreed_homework.goal_index, index)
        command = AssignHomework(
            clinic_id=session.clinic_id,
            homework_id=_derived_id(session, "homework", index),
            client_id=session.client_id,
            counselor_id=session.counselor_id,
            instructions=agreed_homework.instructions,
            due_at=agreed_homework.due_at,
            goal_id=goal.goal_id if goal else None,
            session_id=session.session_id,
        )
        homework.append(Homework.assign(command, goal, assigned_at=session.closed_at))
    return [(goal_stream(g.goal_id), g) for g in goals] + [
        (homework_stream(h.homework_id), h) for h in homework
    ]


def _derived_id(session: SessionClosed, kind: str, index: int) -> UUID:
    return uuid5(session.session_id, f"{kind}-{index}")


def _goal_at(
    goals: Sequence[GoalAgreed], goal_index: int | None, homework_index: int
) -> Goal | None:
    if goal_index is None:
        return None
    if goal_index >= len(goals):
        raise DomainError(
            f"goal_index {goal_index} points at no goal of this plan ({len(goals)} goal(s))",
            field=f"homework.{homework_index}.goal_index",
        )
    return Goal.from_history([goals[goal_index]])


def _earliest_current_date(moment: datetime) -> date:
    return (moment.astimezone(UTC) - _LATEST_UTC_OFFSET).date()
