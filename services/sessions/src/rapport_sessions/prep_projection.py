"""The prep-brief projection: what the goals service tells about a client between sessions
(goals and their reviews, homework done and missed, measures, alliance alerts, plan items it
could not apply, risk flags and their acknowledgement, measures asked for and how each ask
ended), kept by the
sessions-notes consumer so the brief never calls another service. The goals events carry no
words: the brief takes a goal's and a homework's words from the notes projection (this
service's own record of the plan), so its description and target columns stay empty now.

Every update is an insert keyed by the fact's own identity (redeliveries change nothing) or an
upsert of columns no other event writes (so arrival order does not matter): they commute, so a
batch of them may be written a table at a time (upsert.write_all). Each is described (Upsert),
not executed, by a function of the event alone."""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table

from rapport_sessions.tables import (
    plan_refusals,
    prep_alliance_alerts,
    prep_goal_facts,
    prep_homework,
    prep_homework_outcomes,
    prep_measure_asks,
    prep_measures,
    prep_risk_flags,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.goals import (
    AllianceAlertRaised,
    GoalAgreed,
    GoalReviewed,
    GoalRevised,
    GoalStatusChanged,
    HomeworkAssigned,
    HomeworkCancelled,
    HomeworkCompleted,
    HomeworkMissed,
    MeasureAskClosed,
    MeasureRecorded,
    MeasureRequested,
    PlanItemRefused,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from rapport_shared.persistence.upserts import Upsert


# Every goals event names the clinic and the client it concerns.
class _ClientOwned(Protocol):
    @property
    def clinic_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...


def _owner(event: _ClientOwned) -> dict[str, Any]:
    return {"clinic_id": event.clinic_id, "client_id": event.client_id}


def _goal_fact(
    event: GoalAgreed | GoalRevised | GoalStatusChanged | GoalReviewed,
    kind: str,
    at: datetime,
    **facts: Any,
) -> Upsert:
    row = {"goal_id": event.goal_id, "kind": kind, "at": to_utc(at), **_owner(event), **facts}
    return Upsert(prep_goal_facts, row)


def goal_agreed(event: GoalAgreed) -> Upsert:
    return _goal_fact(
        event,
        "agreed",
        event.agreed_at,
        due_date=event.due_date,
        lifecycle_status=event.lifecycle_status,
        achievement_status=event.achievement_status,
    )


def goal_revised(event: GoalRevised) -> Upsert:
    return _goal_fact(
        event,
        "revised",
        event.revised_at,
        due_date=event.due_date,
    )


def goal_status_changed(event: GoalStatusChanged) -> Upsert:
    return _goal_fact(
        event,
        "status",
        event.changed_at,
        lifecycle_status=event.lifecycle_status,
        achievement_status=event.achievement_status,
    )


def goal_reviewed(event: GoalReviewed) -> Upsert:
    return _goal_fact(
        event,
        "reviewed",
        event.reviewed_at,
        achievement_status=event.achievement_status,
        gas_level=event.attained_level,
    )


def homework_assigned(event: HomeworkAssigned) -> Upsert:
    row = {
        "homework_id": event.homework_id,
        **_owner(event),
        "goal_id": event.goal_id,
        "due_at": to_utc(event.due_at),
    }
    return Upsert(prep_homework, row, replace=("goal_id", "due_at"))


def homework_cancelled(event: HomeworkCancelled) -> Upsert:
    row = {"homework_id": event.homework_id, **_owner(event)}
    row["cancelled_at"] = to_utc(event.cancelled_at)
    return Upsert(prep_homework, row, replace=("cancelled_at",))


def _outcome(
    event: HomeworkCompleted | HomeworkMissed, outcome: str, at: datetime, **extra: Any
) -> Upsert:
    row = {
        "homework_id": event.homework_id,
        "due_at": to_utc(event.due_at),
        "outcome": outcome,
        **_owner(event),
        "goal_id": event.goal_id,
        "at": to_utc(at),
        **extra,
    }
    return Upsert(prep_homework_outcomes, row)


def homework_completed(event: HomeworkCompleted) -> Upsert:
    return _outcome(event, "done", event.completed_at, self_rating=event.self_rating)


def homework_missed(event: HomeworkMissed) -> Upsert:
    return _outcome(event, "missed", event.recorded_at)


def measure_recorded(event: MeasureRecorded) -> Upsert:
    row = {
        "measure_id": event.measure_id,
        **_owner(event),
        "instrument": event.instrument,
        "total": event.total,
        "band": event.band,
        "recorded_at": to_utc(event.recorded_at),
    }
    return Upsert(prep_measures, row)


def alliance_alert_raised(event: AllianceAlertRaised) -> Upsert:
    row = {
        "alert_id": event.alert_id,
        **_owner(event),
        "srs_total": event.srs_total,
        "threshold": event.threshold,
        "raised_at": to_utc(event.raised_at),
    }
    return Upsert(prep_alliance_alerts, row)


def plan_item_refused(event: PlanItemRefused) -> Upsert:
    row = {
        "item_id": event.item_id,
        **_owner(event),
        "session_id": event.session_id,
        "kind": event.kind,
        "item_index": event.item_index,
        "reason": event.reason,
        "field": event.field,
        "refused_at": to_utc(event.refused_at),
    }
    return Upsert(plan_refusals, row)


def _facts_of_one_kind(
    table: Table, identity: dict[str, Any], event: _ClientOwned, facts: dict[str, Any]
) -> Upsert:
    """A row some of whose columns only this kind of event writes: on a clash only those
    change, so it and the other kind writing the same row may arrive in either order."""
    return Upsert(table, {**identity, **_owner(event), **facts}, replace=tuple(facts))


def risk_flag_raised(event: RiskFlagRaised) -> Upsert:
    raised = {
        "measure_id": event.measure_id,
        "instrument": event.instrument,
        "item": event.item,
        "score": event.score,
        "threshold": event.threshold,
        "raised_at": to_utc(event.raised_at),
    }
    return _facts_of_one_kind(prep_risk_flags, {"flag_id": event.flag_id}, event, raised)


def risk_flag_acknowledged(event: RiskFlagAcknowledged) -> Upsert:
    acknowledged = {
        "acknowledged_by": event.acknowledged_by,
        "acknowledged_at": to_utc(event.acknowledged_at),
    }
    return _facts_of_one_kind(prep_risk_flags, {"flag_id": event.flag_id}, event, acknowledged)


def _ask(event: MeasureRequested | MeasureAskClosed, facts: dict[str, Any]) -> Upsert:
    identity = {"ask_id": event.ask_id, "instrument": event.instrument}
    return _facts_of_one_kind(prep_measure_asks, identity, event, facts)


def measure_requested(event: MeasureRequested) -> Upsert:
    return _ask(
        event,
        {
            "timing": event.timing,
            "session_id": event.session_id,
            "ask_at": to_utc(event.ask_at),
            "due_at": to_utc(event.due_at),
            "deadline": to_utc(event.deadline),
        },
    )


def measure_ask_closed(event: MeasureAskClosed) -> Upsert:
    return _ask(
        event,
        {
            "outcome": event.outcome,
            "measure_id": event.measure_id,
            "closed_at": to_utc(event.closed_at),
        },
    )


PREP_CHANGES: Mapping[type[EventContract], Callable[[Any], Upsert]] = {
    GoalAgreed: goal_agreed,
    GoalRevised: goal_revised,
    GoalStatusChanged: goal_status_changed,
    GoalReviewed: goal_reviewed,
    HomeworkAssigned: homework_assigned,
    HomeworkCompleted: homework_completed,
    HomeworkMissed: homework_missed,
    HomeworkCancelled: homework_cancelled,
    MeasureRecorded: measure_recorded,
    AllianceAlertRaised: alliance_alert_raised,
    PlanItemRefused: plan_item_refused,
    RiskFlagRaised: risk_flag_raised,
    RiskFlagAcknowledged: risk_flag_acknowledged,
    MeasureRequested: measure_requested,
    MeasureAskClosed: measure_ask_closed,
}
