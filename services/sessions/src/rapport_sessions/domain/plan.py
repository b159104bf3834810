"""The rules of the closing step's agreed plan: the next session after the close, and every rule
the goals service applies to a goal or a homework (rapport_shared.contracts.plan_rules, the one set
both services call), judged as of the close, so a plan accepted here is a plan the goals service can
apply."""

from collections.abc import Sequence
from datetime import datetime

from rapport_shared.contracts import plan_rules
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.plan import (
    AgreedGoal,
    AgreedHomework,
    goal_structure,
    homework_structure,
)


def check_plan(
    closed_at: datetime,
    next_session_at: datetime | None,
    goals: Sequence[AgreedGoal],
    homework: Sequence[AgreedHomework],
) -> None:
    if next_session_at is not None and next_session_at <= closed_at:
        raise DomainError("the next session must be after the close", field="next_session_at")
    plan_rules.check_plan(
        closed_at,
        [goal_structure(goal) for goal in goals],
        [homework_structure(task) for task in homework],
    )
