"""The rules of the closing step's agreed plan: goals not already past due, homework pointing at
a goal of the same plan and due after the close."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from rapport_shared.errors import DomainError
from rapport_shared.plan import AgreedGoal, AgreedHomework

# The last time zone to leave a calendar day is UTC-12: a due date counts as past only once that
# day is over everywhere, so a counselor anywhere may set a goal due "today".
_LATEST_UTC_OFFSET = timedelta(hours=12)


def check_plan(
    closed_at: datetime,
    next_session_at: datetime | None,
    goals: Sequence[AgreedGoal],
    homework: Sequence[AgreedHomework],
) -> None:
    if next_session_at is not None and next_session_at <= closed_at:
        raise DomainError("the next session must be after the close", field="next_session_at")
    _check_goals(goals, closed_at)
    _check_homework(homework, len(goals), closed_at)


def _earliest_current_date(moment: datetime) -> date:
    return (moment.astimezone(UTC) - _LATEST_UTC_OFFSET).date()


def _check_goals(goals: Sequence[AgreedGoal], closed_at: datetime) -> None:
    earliest_today = _earliest_current_date(closed_at)
    for index, goal in enumerate(goals):
        if goal.due_date < earliest_today:
            raise DomainError(
                f"goal due date {goal.due_date} is in the past", field=f"goals.{index}.due_date"
            )


def _check_homework(
    homework: Sequence[AgreedHomework], goal_count: int, closed_at: datetime
) -> None:
    for index, task in enumerate(homework):
        if task.goal_index is not None and task.goal_index >= goal_count:
            raise DomainError(
                f"goal_index {task.goal_index} points at no goal of this plan "
                f"({goal_count} goal(s))",
                field=f"homework.{index}.goal_index",
            )
        if task.due_at <= closed_at:
            raise DomainError(
                "homework must be due after the session closes", field=f"homework.{index}.due_at"
            )
