"""The plan a closed session turns into, and the aggregates it creates.

Aggregates (domain.goal, domain.homework) are rebuilt from their own events (from_history) and
answer a command with the event that records it; a broken rule raises a DomainError naming the
input field at fault.
"""

import contextlib
from collections.abc import Iterator, Sequence
from uuid import UUID, uuid5

from rapport_goals.domain.commands import AgreeGoal, AssignHomework
from rapport_goals.domain.goal import Goal, goal_stream
from rapport_goals.domain.homework import Homework, homework_stream
from rapport_shared.contracts.goals import GoalAgreed, HomeworkAssigned
from rapport_shared.contracts.sessions import SessionClosed
from rapport_shared.errors import DomainError

__all__ = ["Goal", "Homework", "goal_stream", "homework_stream", "plan_from_session"]


def plan_from_session(session: SessionClosed) -> list[tuple[str, GoalAgreed | HomeworkAssigned]]:
    """The goals and homework a closed session agreed, each with the stream it starts.

    Ids derive from the session, so the same session-closed, however often it arrives, always
    names the same streams. The rules are judged as of the close, not of the delivery, so a late
    redelivery plans exactly what a prompt one did. A rule broken anywhere refuses the whole
    plan, naming the item at fault (e.g. goals.0.due_date).
    """
    goals = []
    for index, agreed in enumerate(session.goals):
        command = AgreeGoal(
            clinic_id=session.clinic_id,
            goal_id=_derived_id(session, "goal", index),
            client_id=session.client_id,
            counselor_id=session.counselor_id,
            session_id=session.session_id,
            **dict(agreed),
        )
        with _naming_item(f"goals.{index}"):
            goals.append(Goal.agree(command, agreed_at=session.closed_at))
    homework = []
    for index, agreed_homework in enumerate(session.homework):
        goal = _goal_at(goals, agreed_homework.goal_index, index)
        assign = AssignHomework(
            clinic_id=session.clinic_id,
            homework_id=_derived_id(session, "homework", index),
            client_id=session.client_id,
            counselor_id=session.counselor_id,
            goal_id=goal.goal_id if goal else None,
            session_id=session.session_id,
            **{name: value for name, value in agreed_homework if name != "goal_index"},
        )
        with _naming_item(f"homework.{index}"):
            homework.append(Homework.assign(assign, goal, assigned_at=session.closed_at))
    return [(goal_stream(g.goal_id), g) for g in goals] + [
        (homework_stream(h.homework_id), h) for h in homework
    ]


@contextlib.contextmanager
def _naming_item(prefix: str) -> Iterator[None]:
    """A rule broken by one item of the plan names that item: goals.1.due_date."""
    try:
        yield
    except DomainError as error:
        field = f"{prefix}.{error.field}" if error.field else prefix
        raise type(error)(error.detail, field=field) from None


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
