"""The due times of a homework: once, or every occurrence of its recurrence.

The same rule as the goals service (which owns it; contracts/sessions.py Recurrence documents
it): later occurrences fall at the first one's local wall-clock time in the recurrence's IANA
zone, weekly without weekdays repeats the first one's weekday, `until` is inclusive.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport_shared.contracts.sessions import Recurrence

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The goals service refuses longer schedules; the bound keeps a bad event from flooding us.
MAX_OCCURRENCES = 366


def occurrences(first_due_at: datetime, recurrence: Recurrence | None) -> list[datetime]:
    """Every due time in order, in UTC; the first is always first_due_at itself."""
    first = first_due_at.astimezone(UTC)
    if recurrence is None:
        return [first]
    try:
        zone = ZoneInfo(recurrence.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return [first]  # the goals service validates zones: never here, but never a crash
    local = first.astimezone(zone)
    weekdays = {WEEKDAYS.index(d) for d in recurrence.weekdays} or {local.weekday()}
    due = [first]
    day = local.date() + timedelta(days=1)
    while day <= recurrence.until and len(due) < MAX_OCCURRENCES:
        if recurrence.frequency == "daily" or day.weekday() in weekdays:
            wall_clock = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=zone)
            due.append(wall_clock.astimezone(UTC))
        day += timedelta(days=1)
    return due
