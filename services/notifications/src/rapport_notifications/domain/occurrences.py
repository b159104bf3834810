"""The due times of a homework: once, or every occurrence of its recurrence, by the rule the
goals service schedules them with (rapport_shared.contracts.recurrence)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport_shared.contracts.recurrence import expand
from rapport_shared.contracts.sessions import Recurrence


def occurrences(first_due_at: datetime, recurrence: Recurrence | None) -> list[datetime]:
    """Every due time in order, in UTC; the first is always first_due_at itself."""
    first = first_due_at.astimezone(UTC)
    if recurrence is None:
        return [first]
    try:
        zone = ZoneInfo(recurrence.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return [first]  # the goals service validates zones: never here, but never a crash
    return expand(first, recurrence, zone)
