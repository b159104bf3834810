"""Request-side types: the plan models the event contracts carry, with every collection and
number bounded and unknown fields refused, and the strict scalar types every request body uses.

The contracts themselves stay as they are: they also load events stored in the past (and are
tolerant readers on purpose), so a limit added there could make an old event unreadable. Limits
belong at the edge, where a request is still only a request.

Strict, because FastAPI validates a body in pydantic's lax Python mode after parsing the JSON: a
number became a time (12345 was a session in 1970), "2" a weight, true an item score. A model
cannot simply be strict=True: in Python mode that refuses the ISO strings JSON carries dates in,
and the lists it carries tuples in. So each scalar type is made strict on its own: whole numbers
and numbers refuse strings and booleans, and dates and times are text of their ISO shape only.
"""

import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, StringConstraints
from pydantic_core import PydanticCustomError

from rapport_shared.contracts.base import AwareDatetime
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework, GasLevel, Milestone
from rapport_shared.contracts.sessions import Recurrence, Weekday

MAX_MILESTONES = 20
# A Goal Attainment Scale has five levels, -2 to +2.
MAX_GAS_LEVELS = 5
MAX_GAS_WEIGHT = 100.0
# The longest IANA zone name is 32 characters (America/Argentina/ComodRivadavia).
MAX_TIME_ZONE_CHARS = 64

_REQUEST = ConfigDict(frozen=True, extra="forbid")

# Dates and times a request may name. Python's own range (years 1-9999) is not enough: a time at
# the very edge with an offset cannot be converted to UTC, and a date there cannot have a review
# interval or a recurrence added to it; both used to end in 500.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)
_RANGE = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def _date_in_range(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise PydanticCustomError("date_range", f"must be {_RANGE}")
    return value


def _time_in_range(value: datetime) -> datetime:
    # The local date is checked, not the UTC one: converting is what overflows at the edges.
    _date_in_range(value.date())
    return value


def _text_shaped(shape: str, error_type: str, message: str) -> Callable[[Any], Any]:
    """A before-validator letting through only text that starts like `shape`; pydantic then
    parses it as usual. Anything else (a number, "12345", a list) is refused with message."""
    pattern = re.compile(shape)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or not pattern.match(value):
            raise PydanticCustomError(error_type, message)
        return value

    return check


_DATE_TEXT = BeforeValidator(
    _text_shaped(r"\d{4}-\d{2}-\d{2}\Z", "date_type", "must be a date, e.g. 2026-11-22")
)
_TIME_TEXT = BeforeValidator(
    _text_shaped(
        r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}",
        "datetime_type",
        "must be a date and time with a time zone offset, e.g. 2026-11-22T09:00:00Z",
    )
)
_CLOCK_TEXT = BeforeValidator(
    _text_shaped(r"\d{2}:\d{2}", "time_type", "must be a time of day, e.g. 21:30")
)

# Whole numbers: not "3", not 3.0, not true. Numbers: an integer is fine, a string or a boolean
# is not.
WholeNumber = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
# A calendar date as JSON carries it: "2026-11-22", within EARLIEST..LATEST.
RequestDate = Annotated[date, _DATE_TEXT, AfterValidator(_date_in_range)]
# An instant as JSON carries it: ISO 8601 text with an offset, within EARLIEST..LATEST.
RequestTime = Annotated[AwareDatetime, _TIME_TEXT, AfterValidator(_time_in_range)]
# A local wall-clock time: "21:30" or "21:30:00".
ClockTime = Annotated[time, _CLOCK_TEXT]


class MilestoneRequest(Milestone):
    model_config = _REQUEST
    due_date: RequestDate


class GasLevelRequest(GasLevel):
    model_config = _REQUEST
    level: WholeNumber = Field(ge=-2, le=2)


Milestones = Annotated[tuple[MilestoneRequest, ...], Field(max_length=MAX_MILESTONES)]
GasScale = Annotated[tuple[GasLevelRequest, ...], Field(max_length=MAX_GAS_LEVELS)]
# Infinity would pass "> 0" and then break every JSON encoder downstream.
GasWeight = Annotated[Number, Field(gt=0, le=MAX_GAS_WEIGHT, allow_inf_nan=False)]
ReviewEvery = Annotated[WholeNumber, Field(ge=1, le=365)]
# At most a week ahead.
ReminderLead = Annotated[WholeNumber, Field(ge=0, le=7 * 24 * 60)]
TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TIME_ZONE_CHARS, pattern=r"^[A-Za-z0-9_+/-]+$"),
]


class RecurrenceRequest(Recurrence):
    model_config = _REQUEST
    weekdays: tuple[Weekday, ...] = Field((), max_length=7)
    time_zone: TimeZoneName = "UTC"
    until: RequestDate


class AgreedGoalRequest(AgreedGoal):
    model_config = _REQUEST
    due_date: RequestDate
    milestones: Milestones = ()
    gas_scale: GasScale | None = None
    gas_weight: GasWeight = 1.0
    review_every_days: ReviewEvery | None = None


class AgreedHomeworkRequest(AgreedHomework):
    model_config = _REQUEST
    due_at: RequestTime
    recurrence: RecurrenceRequest | None = None
    goal_index: Annotated[WholeNumber, Field(ge=0)] | None = None
    reminder_lead_minutes: ReminderLead | None = None
