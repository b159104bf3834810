"""The plan a closed session turns into, and the aggregates it creates.

Aggregates (domain.goal, domain.homework) are rebuilt from their own events (from_history) and
answer a command with the event that records it; a broken rule raises a DomainError naming the
input field at fault.
"""

import re
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from rapport_goals.domain.commands import AgreeGoal, AssignHomework
from rapport_goals.domain.goal import Goal, goal_stream
from rapport_goals.domain.homework import Homework, homework_stream
from rapport_shared.contracts import plan_rules
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.goals import (
    FIELD_PATH_PATTERN,
    MAX_FIELD_PATH,
    GoalAgreed,
    PlanItemKind,
    PlanItemRefused,
    RefusalReason,
)
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework, PlanWording, derived_id, join
from rapport_shared.contracts.plan_rules import PlanRuleBroken
from rapport_shared.contracts.sessions import SessionClosed

__all__ = ["Goal", "Homework", "goal_stream", "homework_stream", "plan_from_session"]


_FIELD = re.compile(FIELD_PATH_PATTERN)
# A rule the goals side enforces on top of the shared plan rules
# (rapport_shared.contracts.plan_rules): called with the item's kind ("goal" / "homework") and the
# worded item, it raises a DomainError to refuse it. None in production; tests inject one to prove
# that a drift loses nothing.
ExtraRule = Callable[[PlanItemKind, AgreedGoal | AgreedHomework], None]


def plan_from_session(
    session: SessionClosed, wording: PlanWording, extra_rule: ExtraRule | None = None
) -> list[tuple[str, list[EventContract]]]:
    """The goals and homework a closed session agreed, each with the stream it starts and the
    events that start it: the public agreement or assignment, then its words (private).

    The structure comes from session-closed, the words from its sealed wording, opened by the
    caller (missing words are empty).

    Ids derive from the session, so the same session-closed, however often it arrives, always
    names the same streams. The rules are judged as of the close, not of the delivery, so a late
    redelivery plans exactly what a prompt one did.

    The sessions service checked the same rules before it accepted the close, so normally every
    item applies. One that does not (the rules drifted apart) is refused on its own: its stream
    starts with plan-item-refused instead, naming the item, the field and a reason code, and the
    rest of the plan applies; a homework serving a refused goal is refused with it.
    """
    worded_goals, worded_homework = join(session.goals, session.homework, wording)
    goals: list[GoalAgreed | None] = []
    streams: list[tuple[str, list[EventContract]]] = []
    for index, agreed in enumerate(worded_goals):
        try:
            events = _agreed(session, index, agreed, extra_rule)
        except (DomainError, ValidationError) as error:
            events = [_refused(session, "goal", index, error)]
        goals.append(events[0] if isinstance(events[0], GoalAgreed) else None)
        streams.append((goal_stream(derived_id(session.session_id, "goal", index)), events))
    for index, agreed_homework in enumerate(worded_homework):
        try:
            events = _assigned(session, index, agreed_homework, goals, extra_rule)
        except (DomainError, ValidationError) as error:
            events = [_refused(session, "homework", index, error)]
        homework_id = derived_id(session.session_id, "homework", index)
        streams.append((homework_stream(homework_id), events))
    return streams


def _agreed(
    session: SessionClosed, index: int, agreed: AgreedGoal, extra_rule: ExtraRule | None
) -> list[EventContract]:
    command = AgreeGoal(
        clinic_id=session.clinic_id,
        goal_id=derived_id(session.session_id, "goal", index),
        client_id=session.client_id,
        counselor_id=session.counselor_id,
        session_id=session.session_id,
        **dict(agreed),
    )
    with plan_rules.naming_item(f"goals.{index}"):
        if extra_rule is not None:
            extra_rule("goal", agreed)
        return [Goal.agree(command, agreed_at=session.closed_at), Goal.worded(command)]


def _assigned(
    session: SessionClosed,
    index: int,
    agreed: AgreedHomework,
    goals: Sequence[GoalAgreed | None],
    extra_rule: ExtraRule | None,
) -> list[EventContract]:
    goal = _goal_at(goals, agreed.goal_index, index)
    assign = AssignHomework(
        clinic_id=session.clinic_id,
        homework_id=derived_id(session.session_id, "homework", index),
        client_id=session.client_id,
        counselor_id=session.counselor_id,
        goal_id=goal.goal_id if goal else None,
        session_id=session.session_id,
        **{name: value for name, value in dict(agreed).items() if name != "goal_index"},
    )
    with plan_rules.naming_item(f"homework.{index}"):
        if extra_rule is not None:
            extra_rule("homework", agreed)
        assigned = Homework.assign(assign, goal, assigned_at=session.closed_at)
    return [assigned, Homework.instructed(assign)]


def _goal_at(
    goals: Sequence[GoalAgreed | None], goal_index: int | None, homework_index: int
) -> Goal | None:
    if goal_index is None:
        return None
    plan_rules.check_goal_index(goal_index, len(goals), homework_index)
    agreed = goals[goal_index]
    if agreed is None:
        raise GoalRefused(
            f"goal {goal_index} of this plan was refused",
            field=f"homework.{homework_index}.goal_index",
        )
    return Goal.from_history([agreed])


class GoalRefused(DomainError):
    """A homework serving a goal of its plan that was refused is refused with it."""


def _refused(
    session: SessionClosed, kind: PlanItemKind, index: int, error: Exception
) -> PlanItemRefused:
    field = f"{'goals' if kind == 'goal' else 'homework'}.{index}"
    # A rule's field names a place in the request; anything else falls back to the item's own.
    named = error.field if isinstance(error, DomainError) else None
    if named and len(named) <= MAX_FIELD_PATH and _FIELD.fullmatch(named):
        field = named
    return PlanItemRefused(
        clinic_id=session.clinic_id,
        session_id=session.session_id,
        client_id=session.client_id,
        counselor_id=session.counselor_id,
        kind=kind,
        item_index=index,
        item_id=derived_id(session.session_id, kind, index),
        reason=refusal_reason(error),
        field=field,
        refused_at=session.closed_at,
    )


def refusal_reason(error: Exception) -> RefusalReason:
    """The code recorded for why an item was refused: never the error's words."""
    if isinstance(error, PlanRuleBroken):
        return error.reason
    if isinstance(error, GoalRefused):
        return "goal-refused"
    if isinstance(error, DomainError):
        return "rule-broken"
    return "invalid-item"
