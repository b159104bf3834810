"""The prep-brief projection: what the goals service tells about a client between sessions
(goals and their reviews, homework done and missed, measures, alliance alerts), kept by the
sessions-notes consumer so the brief never calls another service. The goals events carry no
words: the brief takes a goal's and a homework's words from the notes projection (this
service's own record of the plan), so its description and target columns stay empty now.

Every update is an insert keyed by the fact's own identity (redeliveries change nothing) or an
upsert of columns no other event writes (so arrival order does not matter)."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions.tables import (
    prep_alliance_alerts,
    prep_goal_facts,
    prep_homework,
    prep_homework_outcomes,
    prep_measures,
    to_utc,
)
from rapport_sessions.upsert import upsert
from rapport_shared.contracts.base import EventContract
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
    MeasureRecorded,
)


def _owner(event: Any) -> dict[str, Any]:
    return {"clinic_id": event.clinic_id, "client_id": event.client_id}


async def _goal_fact(conn: AsyncConnection, event: Any, kind: str, at: Any, **facts: Any) -> None:
    row = {"goal_id": event.goal_id, "kind": kind, "at": to_utc(at), **_owner(event), **facts}
    await upsert(conn, prep_goal_facts, row, replace=())


async def goal_agreed(conn: AsyncConnection, event: GoalAgreed) -> None:
    await _goal_fact(
        conn,
        event,
        "agreed",
        event.agreed_at,
        due_date=event.due_date,
        lifecycle_status=event.lifecycle_status,
        achievement_status=event.achievement_status,
    )


async def goal_revised(conn: AsyncConnection, event: GoalRevised) -> None:
    await _goal_fact(
        conn,
        event,
        "revised",
        event.revised_at,
        due_date=event.due_date,
    )


async def goal_status_changed(conn: AsyncConnection, event: GoalStatusChanged) -> None:
    await _goal_fact(
        conn,
        event,
        "status",
        event.changed_at,
        lifecycle_status=event.lifecycle_status,
        achievement_status=event.achievement_status,
    )


async def goal_reviewed(conn: AsyncConnection, event: GoalReviewed) -> None:
    await _goal_fact(
        conn,
        event,
        "reviewed",
        event.reviewed_at,
        achievement_status=event.achievement_status,
        gas_level=event.attained_level,
    )


async def homework_assigned(conn: AsyncConnection, event: HomeworkAssigned) -> None:
    row = {
        "homework_id": event.homework_id,
        **_owner(event),
        "goal_id": event.goal_id,
        "due_at": to_utc(event.due_at),
    }
    await upsert(conn, prep_homework, row, replace=("goal_id", "due_at"))


async def homework_cancelled(conn: AsyncConnection, event: HomeworkCancelled) -> None:
    row = {"homework_id": event.homework_id, **_owner(event)}
    row["cancelled_at"] = to_utc(event.cancelled_at)
    await upsert(conn, prep_homework, row, replace=("cancelled_at",))


async def _outcome(conn: AsyncConnection, event: Any, outcome: str, at: Any, **extra: Any) -> None:
    row = {
        "homework_id": event.homework_id,
        "due_at": to_utc(event.due_at),
        "outcome": outcome,
        **_owner(event),
        "goal_id": event.goal_id,
        "at": to_utc(at),
        **extra,
    }
    await upsert(conn, prep_homework_outcomes, row, replace=())


async def homework_completed(conn: AsyncConnection, event: HomeworkCompleted) -> None:
    await _outcome(conn, event, "done", event.completed_at, self_rating=event.self_rating)


async def homework_missed(conn: AsyncConnection, event: HomeworkMissed) -> None:
    await _outcome(conn, event, "missed", event.recorded_at)


async def measure_recorded(conn: AsyncConnection, event: MeasureRecorded) -> None:
    row = {
        "measure_id": event.measure_id,
        **_owner(event),
        "instrument": event.instrument,
        "total": event.total,
        "band": event.band,
        "recorded_at": to_utc(event.recorded_at),
    }
    await upsert(conn, prep_measures, row, replace=())


async def alliance_alert_raised(conn: AsyncConnection, event: AllianceAlertRaised) -> None:
    row = {
        "alert_id": event.alert_id,
        **_owner(event),
        "srs_total": event.srs_total,
        "threshold": event.threshold,
        "raised_at": to_utc(event.raised_at),
    }
    await upsert(conn, prep_alliance_alerts, row, replace=())


PREP_UPDATES: Mapping[type[EventContract], Callable[[AsyncConnection, Any], Awaitable[None]]] = {
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
}
