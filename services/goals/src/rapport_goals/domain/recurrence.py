"""When a homework is due: once, or on every occurrence of its recurrence.

Occurrences after the first fall at the first one's local wall-clock time in the recurrence's
IANA time zone, so "every Monday at 19:00" stays at 19:00 local across a daylight-saving change
(its UTC instant moves by the hour instead). A wall-clock time that does not exist on a
spring-forward day resolves as zoneinfo does (fold=0: the offset from before the change).
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport_shared.contracts.sessions import Recurrence
from rapport_shared.errors import DomainError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Bounds the schedule a single homework can hold (and what a completion has to look through).
MAX_OCCURRENCES = 366


def time_zone(recurrence: Recurrence) -> ZoneInfo:
    try:
        return ZoneInfo(recurrence.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(
            f"{recurrence.time_zone!r} is not an IANA time zone", field="recurrence.time_zone"
        ) from None


def check(first_due_at: datetime, recurrence: Recurrence | None) -> None:
    if recurrence is None:
        return
    zone = time_zone(recurrence)
    if recurrence.frequency == "daily" and recurrence.weekdays:
        raise DomainError("weekdays only apply to weekly homework", field="recurrence.weekdays")
    if recurrence.until < first_due_at.astimezone(zone).date():
        raise DomainError("until must not be before the first occurrence", field="recurrence.until")
    if len(occurrences(first_due_at, recurrence, limit=MAX_OCCURRENCES + 1)) > MAX_OCCURRENCES:
        raise DomainError(
            f"a recurrence may hold at most {MAX_OCCURRENCES} occurrences",
            field="recurrence.until",
        )


def occurrences(
    first_due_at: datetime, recurrence: Recurrence | None, limit: int = MAX_OCCURRENCES
) -> list[datetime]:
    """Every due time in order, in UTC; the first is always first_due_at itself."""
    if recurrence is None:
        return [first_due_at.astimezone(UTC)]
    due = [first_due_at.astimezone(UTC)]
    for day in _later_days(first_due_at, recurrence):
        if len(due) >= limit:
            break
        due.append(_at_wall_clock(first_due_at, recurrence, day))
    return due


def occurrence_after(
    first_due_at: datetime, recurrence: Recurrence | None, after: datetime
) -> datetime | None:
    """The first occurrence due strictly after `after`, or None when the schedule has ended."""
    return next((d for d in occurrences(first_due_at, recurrence) if d > after), None)


def _later_days(first_due_at: datetime, recurrence: Recurrence) -> Iterator[date]:
    zone = time_zone(recurrence)
    first_day = first_due_at.astimezone(zone).date()
    weekdays = {WEEKDAYS.index(d) for d in recurrence.weekdays} or {first_day.weekday()}
    day = first_day + timedelta(days=1)
    while day <= recurrence.until:
        if recurrence.frequency == "daily" or day.weekday() in weekdays:
            yield day
        day += timedelta(days=1)


def _at_wall_clock(first_due_at: datetime, recurrence: Recurrence, day: date) -> datetime:
    zone = time_zone(recurrence)
    local_time = first_due_at.astimezone(zone).time().replace(tzinfo=None)
    return datetime.combine(day, local_time, tzinfo=zone).astimezone(UTC)
