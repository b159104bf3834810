"""When a recurring homework falls due: one rule for every service that expands a schedule (the
goals service, which owns homework, and the notifications service, which reminds of each
occurrence), so the two can never disagree about an occurrence.

Occurrences after the first fall at the first one's local wall-clock time in the recurrence's
IANA zone, so "every Monday at 19:00" stays at 19:00 local across a daylight-saving change (its
UTC instant moves by the hour instead); weekly without weekdays repeats the first one's weekday;
`until` is inclusive. A wall-clock time that does not exist on a spring-forward day resolves as
zoneinfo does (fold=0: the offset from before the change).
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rapport_shared.contracts.sessions import Recurrence

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Bounds the schedule a single homework can hold (the goals service refuses longer ones).
MAX_OCCURRENCES = 366


def expand(
    first_due_at: datetime, recurrence: Recurrence, zone: ZoneInfo, limit: int = MAX_OCCURRENCES
) -> list[datetime]:
    """Every due time in order, in UTC, at most `limit`; the first is first_due_at itself."""
    first = first_due_at.astimezone(UTC)
    local = first.astimezone(zone)
    wall_clock = local.time().replace(tzinfo=None)
    weekdays = {WEEKDAYS.index(d) for d in recurrence.weekdays} or {local.weekday()}
    due = [first]
    day = local.date() + timedelta(days=1)
    while day <= recurrence.until and len(due) < limit:
        if recurrence.frequency == "daily" or day.weekday() in weekdays:
            due.append(datetime.combine(day, wall_clock, tzinfo=zone).astimezone(UTC))
        day += timedelta(days=1)
    return due
