"""Measures on a schedule: a client's measurement plan, the asks it makes, and how each ask ends.

A counselor sets the plan (which instruments, when). The plan turns moments into asks: a session
scheduled asks for the before-session measures a day ahead, due when it starts; a session started
asks for the session-start ones, a session closed for the session-end ones; the every-n-days ones
fall every N days at the first ask's local wall-clock time in the plan's time zone (so a daylight
saving change does not move them). Each ask is its own aggregate (stream measure-ask-<ask_id>)
with an id derived from what made it, so a redelivered event asks nothing twice. A measure of the
same instrument recorded from a day before the ask up to its deadline fulfils it; at the deadline
an open ask is missed; a cancelled session withdraws its asks.

The notifications service turns each ask into a measure-due reminder (in the client's time zone,
outside their quiet hours) and cancels it when the ask closes; the sessions service lists open
and missed asks in the counselor's prep brief.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.goals import (
    MeasureAskClosed,
    MeasureAskOutcome,
    MeasurementPlanSet,
    MeasureRecorded,
    MeasureRequested,
    MeasureSchedule,
    MeasureTiming,
)
from rapport_shared.contracts.sessions import SessionClosed, SessionScheduled, SessionStarted

# Before a session: asked a day ahead, due when it starts, missed if not in by then.
BEFORE_SESSION_LEAD = timedelta(hours=24)
# How long after it is due an ask may still be fulfilled, per timing.
GRACE: dict[MeasureTiming, timedelta] = {
    "before-session": timedelta(0),
    "session-start": timedelta(hours=2),
    "session-end": timedelta(hours=24),
    "every-n-days": timedelta(hours=48),
}
# A measure filled in a little before it was asked for still answers the ask.
EARLY = timedelta(hours=24)
# The SRS rates a session that has just happened: asked for anywhere else it means nothing.
SESSION_END_ONLY = frozenset({"SRS"})


def plan_stream(clinic_id: str, client_id: str) -> str:
    return f"measurement-plan-{clinic_id}-{client_id}"


def ask_stream(ask_id: UUID) -> str:
    return f"measure-ask-{ask_id}"


def ask_id(clinic_id: str, client_id: str, instrument: str, timing: str, at: datetime) -> UUID:
    """Derived from what asks: the same session event or period asks the same ask again."""
    key = f"rapport:{clinic_id}:{client_id}:{instrument}:{timing}@{at.timestamp():.0f}"
    return uuid5(NAMESPACE_URL, key)


def check_plan(
    schedules: Sequence[MeasureSchedule], time_zone: str, first_at: datetime | None, now: datetime
) -> None:
    """Refuses a plan naming the field (schedules.N.when, ...) of its first fault."""
    seen: set[tuple[str, str]] = set()
    for index, schedule in enumerate(schedules):
        at = f"schedules.{index}"
        if (schedule.instrument, schedule.when) in seen:
            raise DomainError(
                f"{schedule.instrument} {schedule.when} is already in the plan", field=at
            )
        seen.add((schedule.instrument, schedule.when))
        if schedule.instrument in SESSION_END_ONLY and schedule.when != "session-end":
            raise DomainError(
                f"the {schedule.instrument} rates a session: ask for it at session-end",
                field=f"{at}.when",
            )
        periodic = schedule.when == "every-n-days"
        if periodic != (schedule.every_days is not None):
            raise DomainError(
                "every_days goes with every-n-days, and only with it", field=f"{at}.every_days"
            )
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(f"{time_zone!r} is not an IANA time zone", field="time_zone") from None
    periodic_plan = any(s.when == "every-n-days" for s in schedules)
    if periodic_plan and first_at is None:
        raise DomainError("an every-n-days schedule needs first_at", field="first_at")
    if first_at is not None and first_at < now - timedelta(days=1):
        raise DomainError("first_at is in the past", field="first_at")


@dataclass
class MeasurementPlan:
    clinic_id: str
    client_id: str
    current: MeasurementPlanSet | None = None
    version: int = 0

    @classmethod
    def from_history(
        cls, clinic_id: str, client_id: str, events: Sequence[EventContract]
    ) -> "MeasurementPlan":
        """A client without a plan has an empty history: nothing is asked of them."""
        plan = cls(clinic_id, client_id)
        for event in events:
            plan.apply(event)
        return plan

    def apply(self, event: EventContract) -> None:
        if isinstance(event, MeasurementPlanSet):
            self.current = event
        self.version += 1

    def set(
        self,
        schedules: Sequence[MeasureSchedule],
        set_by: str,
        time_zone: str,
        first_at: datetime | None,
        now: datetime,
    ) -> MeasurementPlanSet:
        check_plan(schedules, time_zone, first_at, now)
        return MeasurementPlanSet(
            clinic_id=self.clinic_id,
            client_id=self.client_id,
            set_by=set_by,
            schedules=tuple(schedules),
            time_zone=time_zone,
            first_at=first_at,
            set_at=now,
        )


def _ask(
    plan: MeasurementPlanSet,
    instrument: MeasureSchedule,
    ask_at: datetime,
    due_at: datetime,
    session_id: UUID | None,
) -> MeasureRequested:
    return MeasureRequested(
        clinic_id=plan.clinic_id,
        ask_id=ask_id(
            plan.clinic_id, plan.client_id, instrument.instrument, instrument.when, due_at
        ),
        client_id=plan.client_id,
        instrument=instrument.instrument,
        timing=instrument.when,
        session_id=session_id,
        ask_at=ask_at,
        due_at=due_at,
        deadline=due_at + GRACE[instrument.when],
    )


def session_asks(
    plan: MeasurementPlanSet | None,
    event: SessionScheduled | SessionStarted | SessionClosed,
    now: datetime,
) -> list[MeasureRequested]:
    """The asks a session event makes under the client's plan; none for a moment already past
    its deadline (a session scheduled for yesterday asks nothing before it)."""
    if plan is None:
        return []
    match event:
        case SessionScheduled():
            timing: MeasureTiming = "before-session"
            due_at = event.starts_at
            ask_at = max(due_at - BEFORE_SESSION_LEAD, now)
        case SessionStarted():
            timing, due_at = "session-start", event.started_at
            ask_at = due_at
        case SessionClosed():
            timing, due_at = "session-end", event.closed_at
            ask_at = due_at
    return [
        _ask(plan, schedule, ask_at, due_at, event.session_id)
        for schedule in plan.schedules
        if schedule.when == timing and due_at + GRACE[timing] > now
    ]


def periodic_asks(
    plan: MeasurementPlanSet | None, after: datetime, until: datetime
) -> list[MeasureRequested]:
    """The every-n-days asks falling in (after, until], in order: each N days after first_at,
    at first_at's local wall-clock time in the plan's time zone."""
    if plan is None or plan.first_at is None:
        return []
    zone = ZoneInfo(plan.time_zone)
    local_first = plan.first_at.astimezone(zone)
    wall_clock = local_first.time().replace(tzinfo=None)
    asks = []
    for schedule in plan.schedules:
        if schedule.every_days is None:
            continue
        day = local_first.date()
        while True:
            at = datetime.combine(day, wall_clock, tzinfo=zone).astimezone(UTC)
            if at > until:
                break
            if at > after:
                asks.append(_ask(plan, schedule, at, at, None))
            day += timedelta(days=schedule.every_days)
    return sorted(asks, key=lambda ask: (ask.ask_at, ask.instrument))


@dataclass
class MeasureAsk:
    requested: MeasureRequested
    closed: MeasureAskClosed | None = None
    version: int = 0

    @classmethod
    def from_history(cls, events: Sequence[EventContract]) -> "MeasureAsk":
        first, *rest = events
        if not isinstance(first, MeasureRequested):
            raise ValueError(f"an ask's history starts with measure-requested, not {first!r}")
        ask = cls(first, version=1)
        for event in rest:
            ask.apply(event)
        return ask

    def apply(self, event: EventContract) -> None:
        if isinstance(event, MeasureAskClosed):
            self.closed = event
        self.version += 1

    def answers(self, measure: MeasureRecorded) -> bool:
        asked = self.requested
        return (
            measure.instrument == asked.instrument
            and asked.ask_at - EARLY <= measure.recorded_at <= asked.deadline
        )

    def fulfil(self, measure: MeasureRecorded) -> MeasureAskClosed | None:
        if self.closed is not None or not self.answers(measure):
            return None
        return self._close("fulfilled", measure.recorded_at, measure.measure_id)

    def miss(self, now: datetime) -> MeasureAskClosed | None:
        if self.closed is not None or now < self.requested.deadline:
            return None
        return self._close("missed", self.requested.deadline)

    def withdraw(self, now: datetime) -> MeasureAskClosed | None:
        return None if self.closed is not None else self._close("withdrawn", now)

    def _close(
        self, outcome: MeasureAskOutcome, at: datetime, measure_id: UUID | None = None
    ) -> MeasureAskClosed:
        asked = self.requested
        return MeasureAskClosed(
            clinic_id=asked.clinic_id,
            ask_id=asked.ask_id,
            client_id=asked.client_id,
            instrument=asked.instrument,
            outcome=outcome,
            measure_id=measure_id,
            closed_at=at,
        )
