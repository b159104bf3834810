"""When a homework is due: once, or on every occurrence of its recurrence (the rule itself is
rapport_shared.contracts.recurrence, shared with the notifications service; what a valid recurrence
is, rapport_shared.contracts.plan_rules, shared with the sessions service's closing step)."""

from datetime import UTC, datetime

from rapport_shared.contracts import plan_rules
from rapport_shared.contracts.recurrence import MAX_OCCURRENCES, expand
from rapport_shared.contracts.sessions import Recurrence


def occurrences(
    first_due_at: datetime, recurrence: Recurrence | None, limit: int = MAX_OCCURRENCES
) -> list[datetime]:
    """Every due time in order, in UTC; the first is always first_due_at itself."""
    if recurrence is None:
        return [first_due_at.astimezone(UTC)]
    return expand(first_due_at, recurrence, plan_rules.time_zone(recurrence), limit)


def occurrence_after(
    first_due_at: datetime, recurrence: Recurrence | None, after: datetime
) -> datetime | None:
    """The first occurrence due strictly after `after`, or None when the schedule has ended."""
    return next((d for d in occurrences(first_due_at, recurrence) if d > after), None)
