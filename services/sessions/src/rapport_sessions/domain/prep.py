"""The session-prep brief's rules, pure: folding a goal's facts into its current terms and
status, which homework outcomes count since the last session, each measure's change,
whether an alliance alert is still open, which risk flags are, and which measures asked for are
due or were missed."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

# FHIR lifecycle states in which a goal is still being worked on.
OPEN_LIFECYCLE = frozenset({"proposed", "planned", "accepted", "active", "on-hold"})
# Facts of one instant apply in this order: a goal agreed and reviewed at once ends reviewed.
_KIND_ORDER = {"agreed": 0, "revised": 1, "status": 2, "reviewed": 3}


@dataclass(frozen=True)
class GoalFact:
    goal_id: UUID
    kind: str
    at: datetime
    description: str | None = None
    target: str | None = None
    due_date: date | None = None
    lifecycle_status: str | None = None
    achievement_status: str | None = None
    gas_level: int | None = None


@dataclass(frozen=True)
class GoalState:
    goal_id: UUID
    description: str
    target: str
    due_date: date
    lifecycle_status: str
    achievement_status: str
    gas_level: int | None = None
    gas_reviewed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.lifecycle_status in OPEN_LIFECYCLE


def fold_goals(facts: Iterable[GoalFact]) -> list[GoalState]:
    """Each goal as its facts leave it, whatever order they arrived in: later facts override
    the fields they carry. A goal whose agreement is not known yet is left out."""
    ordered = sorted(facts, key=lambda f: (f.at, _KIND_ORDER.get(f.kind, 9)))
    goals: dict[UUID, GoalState] = {}
    pending: dict[UUID, list[GoalFact]] = {}
    for fact in ordered:
        if fact.kind == "agreed":
            goals[fact.goal_id] = GoalState(
                goal_id=fact.goal_id,
                description=fact.description or "",
                target=fact.target or "",
                due_date=fact.due_date or date.min,
                lifecycle_status=fact.lifecycle_status or "active",
                achievement_status=fact.achievement_status or "in-progress",
            )
            # Facts stamped before the agreement (clock skew) still apply after it.
            for earlier in pending.pop(fact.goal_id, []):
                goals[fact.goal_id] = _apply(goals[fact.goal_id], earlier)
        elif fact.goal_id in goals:
            goals[fact.goal_id] = _apply(goals[fact.goal_id], fact)
        else:
            pending.setdefault(fact.goal_id, []).append(fact)
    return sorted(goals.values(), key=lambda g: (g.due_date, str(g.goal_id)))


def _apply(goal: GoalState, fact: GoalFact) -> GoalState:
    changes = {
        name: value
        for name in ("description", "target", "due_date", "lifecycle_status", "achievement_status")
        if (value := getattr(fact, name)) is not None
    }
    if fact.kind == "reviewed" and fact.gas_level is not None:
        changes.update(gas_level=fact.gas_level, gas_reviewed_at=fact.at)
    return replace(goal, **changes)


@dataclass(frozen=True)
class Outcome:
    homework_id: UUID
    due_at: datetime
    outcome: str  # "done" or "missed"
    at: datetime
    goal_id: UUID | None = None
    self_rating: int | None = None


def outcomes_since(outcomes: Sequence[Outcome], since: datetime | None) -> list[Outcome]:
    """The homework done and missed since the last session (all of it before any session),
    oldest first. An occurrence completed late after being recorded missed counts as done."""
    done = {(o.homework_id, o.due_at) for o in outcomes if o.outcome == "done"}
    kept = [
        o
        for o in outcomes
        if (since is None or o.at >= since)
        and (o.outcome == "done" or (o.homework_id, o.due_at) not in done)
    ]
    return sorted(kept, key=lambda o: (o.at, str(o.homework_id)))


@dataclass(frozen=True)
class Measure:
    instrument: str
    total: int
    band: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class MeasureChange:
    instrument: str
    total: int
    band: str | None
    recorded_at: datetime
    previous_total: int | None
    change: int | None


def latest_measures(measures: Iterable[Measure]) -> list[MeasureChange]:
    """Per instrument, the latest score and its change from the one before it."""
    by_instrument: dict[str, list[Measure]] = {}
    for measure in sorted(measures, key=lambda m: m.recorded_at):
        by_instrument.setdefault(measure.instrument, []).append(measure)
    changes = []
    for instrument, series in sorted(by_instrument.items()):
        latest = series[-1]
        previous = series[-2].total if len(series) > 1 else None
        changes.append(
            MeasureChange(
                instrument=instrument,
                total=latest.total,
                band=latest.band,
                recorded_at=latest.recorded_at,
                previous_total=previous,
                change=None if previous is None else latest.total - previous,
            )
        )
    return changes


@dataclass(frozen=True)
class AllianceAlert:
    alert_id: UUID
    srs_total: int
    threshold: int
    raised_at: datetime


def open_alert(
    alerts: Sequence[AllianceAlert], measures: Iterable[Measure]
) -> AllianceAlert | None:
    """The latest alert, unless a later Session Rating Scale reached its threshold again: no
    event closes an alert, so a recovered alliance is what ends it."""
    if not alerts:
        return None
    latest = max(alerts, key=lambda a: a.raised_at)
    recovered = any(
        m.instrument == "SRS" and m.recorded_at > latest.raised_at and m.total >= latest.threshold
        for m in measures
    )
    return None if recovered else latest


@dataclass(frozen=True)
class RiskFlag:
    """A risk flag as the goals events left it: raised (the instrument, item and score known),
    acknowledged, or both, whichever arrived first."""

    flag_id: UUID
    instrument: str | None = None
    item: int | None = None
    score: int | None = None
    raised_at: datetime | None = None
    acknowledged_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.raised_at is not None and self.acknowledged_at is None


def open_risk_flags(flags: Iterable[RiskFlag]) -> list[RiskFlag]:
    """The flags raised and not acknowledged, oldest first. A flag stays until a counselor
    acknowledges it, whatever measures came since: a later calm score does not undo a risk."""
    return sorted((f for f in flags if f.is_open), key=lambda f: (f.raised_at, str(f.flag_id)))


@dataclass(frozen=True)
class MeasureAsk:
    """A measure asked of the client (known once measure-requested arrived) and how the ask
    ended, if it has: "fulfilled", "missed" or "withdrawn"."""

    ask_id: UUID
    instrument: str
    timing: str | None = None
    session_id: UUID | None = None
    ask_at: datetime | None = None
    due_at: datetime | None = None
    deadline: datetime | None = None
    outcome: str | None = None
    closed_at: datetime | None = None

    @property
    def is_known(self) -> bool:
        return self.due_at is not None


def asks_due(asks: Iterable[MeasureAsk]) -> list[MeasureAsk]:
    """The open asks (not fulfilled, missed or withdrawn yet), soonest due first; those not
    asked yet (a before-session ask is made a day ahead) included, with when they will be."""
    return _by_due_date(a for a in asks if a.is_known and a.outcome is None)


def asks_missed(asks: Iterable[MeasureAsk], since: datetime | None) -> list[MeasureAsk]:
    """The asks missed since the last session (the homework's window: all of them before any
    session), by when they were due."""
    return _by_due_date(
        a
        for a in asks
        if a.is_known
        and a.outcome == "missed"
        and (since is None or (a.closed_at is not None and a.closed_at >= since))
    )


def _by_due_date(asks: Iterable[MeasureAsk]) -> list[MeasureAsk]:
    return sorted(asks, key=lambda a: (a.due_at, a.instrument, str(a.ask_id)))
