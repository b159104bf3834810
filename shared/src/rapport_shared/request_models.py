"""Request-side variants of the plan models the event contracts carry, with every collection and
number bounded, and unknown fields refused.

The contracts themselves stay as they are: they also load events stored in the past (and are
tolerant readers on purpose), so a limit added there could make an old event unreadable. Limits
belong at the edge, where a request is still only a request.
"""

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from rapport_shared.contracts.base import AwareDatetime
from rapport_shared.contracts.sessions import Recurrence, Weekday
from rapport_shared.plan import AgreedGoal, AgreedHomework, GasLevel, Milestone

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


def _time_in_range(value: datetime) -> datetime:
    # The local date is checked, not the UTC one: converting is what overflows at the edges.
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"must be {_RANGE}")
    return value


RequestDate = Annotated[date, Field(ge=EARLIEST, le=LATEST)]
RequestTime = Annotated[AwareDatetime, AfterValidator(_time_in_range)]


class MilestoneRequest(Milestone):
    model_config = _REQUEST
    due_date: RequestDate


class GasLevelRequest(GasLevel):
    model_config = _REQUEST


Milestones = Annotated[tuple[MilestoneRequest, ...], Field(max_length=MAX_MILESTONES)]
GasScale = Annotated[tuple[GasLevelRequest, ...], Field(max_length=MAX_GAS_LEVELS)]
# Infinity would pass "> 0" and then break every JSON encoder downstream.
GasWeight = Annotated[float, Field(gt=0, le=MAX_GAS_WEIGHT, allow_inf_nan=False)]
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


class AgreedHomeworkRequest(AgreedHomework):
    model_config = _REQUEST
    due_at: RequestTime
    recurrence: RecurrenceRequest | None = None
