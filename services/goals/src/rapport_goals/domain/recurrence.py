"""When a homework is due: once, or on every occurrence of its recurrence (the rule itself is
rapport_shared.recurrence, shared with the notifications service), and what a valid recurrence
is."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport_shared.contracts.sessions import Recurrence
from rapport_shared.errors import DomainError
from rapport_shared.recurrence import MAX_OCCURRENCES, expand


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
    return expand(first_due_at, recurrence, time_zone(recurrence), limit)


def occurrence_after(
    first_due_at: datetime, recurrence: Recurrence | None, after: datetime
) -> datetime | None:
    """The first occurrence due strictly after `after`, or None when the schedule has ended."""
    return next((d for d in occurrences(first_due_at, recurrence) if d > after), None)
