"""The plan a closed session turns into, and the aggregates it creates.

Aggregates (domain.goal, domain.homework) are rebuilt from their own events (from_history) and
answer a command with the event that records it; a broken rule raises a DomainError naming the
input field at fault.
"""

import contextlib
from collections.abc import Iterator, Sequence

from rapport_goals.domain.commands import AgreeGoal, AssignHomework
from rapport_goals.domain.goal import Goal, goal_stream
from rapport_goals.domain.homework import Homework, homework_stream
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import GoalAgreed
from rapport_shared.contracts.sessions import SessionClosed
from rapport_shared.errors import DomainError
from rapport_shared.plan import PlanWording, derived_id, join

__all__ = ["Goal", "Homework", "goal_stream", "homework_stream", "plan_from_session"]


def plan_from_session(
    session: SessionClosed, wording: PlanWording
) -> list[tuple[str, list[EventContract]]]:
    """The goals and homework a closed session agreed, each with the stream it starts and the
    events that start it: the public agreement or assignment, then its words (private).

    The structure comes from session-closed, the words from its sealed wording, opened by the
    caller (missing words are empty).

    Ids derive from the session, so the same session-closed, however often it arrives, always
    names the same streams. The rules are judged as of the close, not of the delivery, so a late
    redelivery plans exactly what a prompt one did. A rule broken anywhere refuses the whole
    plan, naming the item at fault (e.g. goals.0.due_date).
    """
    worded_goals, worded_homework = join(session.goals, session.homework, wording)
    goals: list[GoalAgreed] = []
    streams: list[tuple[str, list[EventContract]]] = []
    for index, agreed in enumerate(worded_goals):
        command = AgreeGoal(
            clinic_id=session.clinic_id,
            goal_id=derived_id(session.session_id, "goal", index),
            client_id=session.client_id,
            counselor_id=session.counselor_id,
            session_id=session.session_id,
            **dict(agreed),
        )
        with _naming_item(f"goals.{index}"):
            goals.append(Goal.agree(command, agreed_at=session.closed_at))
        streams.append((goal_stream(command.goal_id), [goals[-1], Goal.worded(command)]))
    for index, agreed_homework in enumerate(worded_homework):
        goal = _goal_at(goals, agreed_homework.goal_index, index)
        assign = AssignHomework(
            clinic_id=session.clinic_id,
            homework_id=derived_id(session.session_id, "homework", index),
            client_id=session.client_id,
            counselor_id=session.counselor_id,
            goal_id=goal.goal_id if goal else None,
            session_id=session.session_id,
            **{
                name: value for name, value in dict(agreed_homework).items() if name != "goal_index"
            },
        )
        with _naming_item(f"homework.{index}"):
            assigned = Homework.assign(assign, goal, assigned_at=session.closed_at)
        streams.append(
            (homework_stream(assign.homework_id), [assigned, Homework.instructed(assign)])
        )
    return streams


@contextlib.contextmanager
def _naming_item(prefix: str) -> Iterator[None]:
    """A rule broken by one item of the plan names that item: goals.1.due_date."""
    try:
        yield
    except DomainError as error:
        field = f"{prefix}.{error.field}" if error.field else prefix
        raise type(error)(error.detail, field=field) from None


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
