"""The rules a goal or a homework must keep to be agreed: one set, pure, called wherever one is
accepted. The sessions service checks a whole plan with check_plan before it closes a session,
and the goals service checks each goal and homework with check_goal / check_schedule, whether it
comes from its own API or from session-closed; so a plan the sessions service accepted is one the
goals service can apply.

Each broken rule raises PlanRuleBroken: a DomainError (HTTP 422) naming the field at fault, with
a reason code (contracts.goals.RefusalReason) that the goals service records when it has to
refuse an item of an accepted plan.

The rules:
- a goal's due date is not past (a day counts as past once it is over everywhere, UTC-12);
- each milestone is due on or before its goal's due date;
- a GAS scale, if any, describes each of the levels -2 ... +2 exactly once;
- review_every_days is 1 to 365, gas_weight above 0;
- a homework is due after it is assigned (for a plan: after the close);
- a recurrence's time zone is an IANA name, weekdays only go with weekly, until is not before
  the first occurrence's local date, and the schedule holds at most MAX_OCCURRENCES occurrences;
- a plan's homework points, if at all, at a goal of the same plan.
"""

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.goals import RefusalReason
from rapport_shared.contracts.recurrence import MAX_OCCURRENCES, expand
from rapport_shared.contracts.sessions import (
    PlannedGasLevel,
    PlannedGoal,
    PlannedHomework,
    PlannedMilestone,
    Recurrence,
)

MAX_REVIEW_EVERY_DAYS = 365
GAS_LEVELS = (-2, -1, 0, 1, 2)
# The last time zone to leave a calendar day is UTC-12: a due date counts as past only once that
# day is over everywhere, so a counselor anywhere may agree a goal due "today".
_LATEST_UTC_OFFSET = timedelta(hours=12)


class PlanRuleBroken(DomainError):
    """A plan rule broken; reason is the code the goals service records for it."""

    def __init__(self, detail: str, field: str, reason: RefusalReason) -> None:
        super().__init__(detail, field=field)
        self.reason: RefusalReason = reason


def check_plan(
    closed_at: datetime, goals: Sequence[PlannedGoal], homework: Sequence[PlannedHomework]
) -> None:
    """Every rule over a whole plan as of its close; the first broken names its item, e.g.
    goals.0.due_date or homework.1.recurrence.time_zone."""
    for index, goal in enumerate(goals):
        with naming_item(f"goals.{index}"):
            check_planned_goal(goal, closed_at)
    for index, task in enumerate(homework):
        check_goal_index(task.goal_index, len(goals), index)
        with naming_item(f"homework.{index}"):
            check_schedule(task.due_at, task.recurrence, assigned_at=closed_at)


def check_planned_goal(goal: PlannedGoal, agreed_at: datetime) -> None:
    check_goal(
        agreed_at,
        goal.due_date,
        goal.milestones,
        goal.gas_scale,
        goal.review_every_days,
        goal.gas_weight,
    )


def check_goal(
    moment: datetime,
    due_date: date,
    milestones: Sequence[PlannedMilestone],
    scale: Sequence[PlannedGasLevel] | None,
    review_every_days: int | None,
    gas_weight: float | None = None,
    *,
    new_due_date: bool = True,
) -> None:
    """A goal's terms as of `moment`. A revision that keeps its due date passes
    new_due_date=False (an unchanged due date may have passed already) and no weight (a
    revision cannot change it)."""
    if new_due_date and due_date < earliest_current_date(moment):
        raise PlanRuleBroken(
            f"due date {due_date} is in the past", field="due_date", reason="due-date-past"
        )
    for index, milestone in enumerate(milestones):
        if milestone.due_date > due_date:
            raise PlanRuleBroken(
                f"milestone due {milestone.due_date} falls after the goal's due date {due_date}",
                field=f"milestones.{index}.due_date",
                reason="milestone-after-due-date",
            )
    check_scale(scale)
    if review_every_days is not None and not 1 <= review_every_days <= MAX_REVIEW_EVERY_DAYS:
        raise PlanRuleBroken(
            f"review_every_days must be 1 to {MAX_REVIEW_EVERY_DAYS}",
            field="review_every_days",
            reason="review-cadence",
        )
    if gas_weight is not None and not gas_weight > 0:
        raise PlanRuleBroken("gas_weight must be above 0", field="gas_weight", reason="gas-weight")


def check_scale(scale: Sequence[PlannedGasLevel] | None, field: str = "gas_scale") -> None:
    """A scale, if any, describes each of the five levels exactly once."""
    if scale is not None and sorted(level.level for level in scale) != list(GAS_LEVELS):
        raise PlanRuleBroken(
            "a GAS scale has exactly five levels, -2, -1, 0, +1 and +2, each described once",
            field=field,
            reason="gas-scale-levels",
        )


def check_schedule(due_at: datetime, recurrence: Recurrence | None, assigned_at: datetime) -> None:
    """A homework's due time and recurrence, as of its assignment."""
    if due_at <= assigned_at:
        raise PlanRuleBroken(
            "homework must be due after it is assigned (for a plan: after the session closes)",
            field="due_at",
            reason="due-before-assignment",
        )
    check_recurrence(due_at, recurrence)


def check_recurrence(first_due_at: datetime, recurrence: Recurrence | None) -> None:
    if recurrence is None:
        return
    zone = time_zone(recurrence)
    if recurrence.frequency == "daily" and recurrence.weekdays:
        raise PlanRuleBroken(
            "weekdays only apply to weekly homework",
            field="recurrence.weekdays",
            reason="weekdays-not-weekly",
        )
    if recurrence.until < first_due_at.astimezone(zone).date():
        raise PlanRuleBroken(
            "until must not be before the first occurrence",
            field="recurrence.until",
            reason="until-before-first",
        )
    if len(expand(first_due_at, recurrence, zone, limit=MAX_OCCURRENCES + 1)) > MAX_OCCURRENCES:
        raise PlanRuleBroken(
            f"a recurrence may hold at most {MAX_OCCURRENCES} occurrences",
            field="recurrence.until",
            reason="too-many-occurrences",
        )


def time_zone(recurrence: Recurrence) -> ZoneInfo:
    try:
        return ZoneInfo(recurrence.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PlanRuleBroken(
            f"{recurrence.time_zone!r} is not an IANA time zone",
            field="recurrence.time_zone",
            reason="time-zone-unknown",
        ) from None


def check_goal_index(goal_index: int | None, goal_count: int, homework_index: int) -> None:
    if goal_index is not None and goal_index >= goal_count:
        raise PlanRuleBroken(
            f"goal_index {goal_index} points at no goal of this plan ({goal_count} goal(s))",
            field=f"homework.{homework_index}.goal_index",
            reason="goal-index",
        )


def earliest_current_date(moment: datetime) -> date:
    """The earliest calendar date anywhere on Earth at `moment`."""
    return (moment.astimezone(UTC) - _LATEST_UTC_OFFSET).date()


@contextlib.contextmanager
def naming_item(prefix: str) -> Iterator[None]:
    """A rule broken by one item of a plan names that item: goals.1.due_date."""
    try:
        yield
    except DomainError as error:
        error.field = f"{prefix}.{error.field}" if error.field else prefix
        raise
