"""Request-side variants of the plan models the event contracts carry, with every collection and
number bounded, and unknown fields refused.

The contracts themselves stay as they are: they also load events stored in the past (and are
tolerant readers on purpose), so a limit added there could make an old event unreadable. Limits
belong at the edge, where a request is still only a request.
"""

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from rapport_shared.contracts.sessions import (
    AgreedGoal,
    AgreedHomework,
    GasLevel,
    Milestone,
    Recurrence,
    Weekday,
)

MAX_MILESTONES = 20
# A Goal Attainment Scale has five levels, -2 to +2.
MAX_GAS_LEVELS = 5
MAX_GAS_WEIGHT = 100.0
# The longest IANA zone name is 32 characters (America/Argentina/ComodRivadavia).
MAX_TIME_ZONE_CHARS = 64

_REQUEST = ConfigDict(frozen=True, extra="forbid")


class MilestoneRequest(Milestone):
    model_config = _REQUEST


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


class AgreedGoalRequest(AgreedGoal):
    model_config = _REQUEST
    milestones: Milestones = ()
    gas_scale: GasScale | None = None
    gas_weight: GasWeight = 1.0


class AgreedHomeworkRequest(AgreedHomework):
    model_config = _REQUEST
    recurrence: RecurrenceRequest | None = None
