"""The session-prep brief ("pick up where you left off"), read from the sessions service's own
projections and event store only: the last closed session's agreed plan (and any of its items the
goals service could not apply), the open goals with
their progress since, the homework done and missed since, the latest measures and any open
alliance alert; whether the client has a safety plan, the risk flags not acknowledged yet, and
the measures asked for that are due or were missed since."""

from collections import Counter
from dataclasses import fields
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_sessions import repository, safety_plans, views
from rapport_sessions.domain import prep
from rapport_sessions.domain.model import SessionStatus
from rapport_sessions.safety_plans import SafetyPlanStatus
from rapport_sessions.tables import (
    notes_goals,
    notes_homework,
    notes_sessions,
    prep_alliance_alerts,
    prep_goal_facts,
    prep_homework,
    prep_homework_outcomes,
    prep_measure_asks,
    prep_measures,
    prep_risk_flags,
)
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework, GoalWording
from rapport_shared.contracts.sessions import safety_plan_path
from rapport_shared.eventsourcing.crypto import decrypt_text
from rapport_shared.eventsourcing.privatestore import PrivateEventStore


class LastSession(BaseModel):
    session_id: UUID
    closed_at: datetime
    next_session_at: datetime | None
    goals: list[AgreedGoal]
    homework: list[AgreedHomework]
    # The note's plan section, when its format has one: the counselor's own words for it.
    note_plan: str | None
    refused: list[views.RefusedItem] = Field(
        [], description="Items of this plan the goals service could not apply (not created)"
    )


class GoalProgress(BaseModel):
    goal_id: UUID
    description: str = Field(description="As agreed at the close; empty if agreed elsewhere")
    target: str
    revised: bool = Field(description="Revised since: the words here are the agreed ones")
    due_date: date
    lifecycle_status: str
    achievement_status: str
    gas_level: int | None
    gas_reviewed_at: datetime | None
    homework_done: int
    homework_missed: int


class HomeworkOutcome(BaseModel):
    homework_id: UUID
    goal_id: UUID | None
    instructions: str | None
    due_at: datetime
    outcome: str
    at: datetime
    self_rating: int | None


class MeasureLine(BaseModel):
    instrument: str
    total: int
    band: str | None
    recorded_at: datetime
    previous_total: int | None
    change: int | None


class AllianceAlertLine(BaseModel):
    alert_id: UUID
    srs_total: int
    threshold: int
    raised_at: datetime


class RiskFlagLine(BaseModel):
    flag_id: UUID
    instrument: str
    item: int = Field(description="The item's number on the form, 1-based")
    score: int
    raised_at: datetime
    safety_plan: str = Field(description="The path of the client's safety plan")


class MeasureDueLine(BaseModel):
    ask_id: UUID
    instrument: str
    timing: str = Field(description="before-session, session-start, session-end, every-n-days")
    session_id: UUID | None
    ask_at: datetime = Field(description="When the client is (or was) asked")
    due_at: datetime
    deadline: datetime = Field(description="Missed if not filled in by then")


class MeasureMissedLine(BaseModel):
    ask_id: UUID
    instrument: str
    timing: str
    session_id: UUID | None
    due_at: datetime
    missed_at: datetime


class PrepBrief(BaseModel):
    client_id: str
    since: datetime | None
    last_session: LastSession | None
    goals: list[GoalProgress]
    homework: list[HomeworkOutcome]
    measures: list[MeasureLine]
    alliance_alert: AllianceAlertLine | None
    safety_plan: SafetyPlanStatus
    risk_flags: list[RiskFlagLine] = Field(description="Raised and not acknowledged yet")
    measures_due: list[MeasureDueLine] = Field(description="Asked for and still open")
    measures_missed: list[MeasureMissedLine] = Field(
        description="Missed since the last closed session (all of them before any)"
    )


async def prep_brief(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str
) -> PrepBrief:
    last = await _last_session(conn, store, clinic_id, client_id)
    since = last.closed_at if last else None
    outcomes = [
        prep.Outcome(**_fields(row, prep.Outcome))
        for row in await _rows(conn, prep_homework_outcomes, clinic_id, client_id)
    ]
    recent = prep.outcomes_since(outcomes, since)
    assigned = {
        row["homework_id"]: row for row in await _rows(conn, prep_homework, clinic_id, client_id)
    }
    # The words come from this service's own record of the plans it closed with.
    key = await store.keys.key(conn, clinic_id, client_id)
    instructions = {
        row["homework_id"]: decrypt_text(key, clinic_id, client_id, row["instructions"] or "")
        for row in await _rows(conn, notes_homework, clinic_id, client_id)
    }
    words = {
        row["goal_id"]: views.goal_words(key, clinic_id, client_id, row["description"])
        for row in await _rows(conn, notes_goals, clinic_id, client_id)
    }
    revised = await views.revised_goals(conn, clinic_id, client_id)
    homework = [
        _outcome_line(o, assigned.get(o.homework_id), instructions.get(o.homework_id))
        for o in recent
    ]
    done = Counter(h.goal_id for h in homework if h.outcome == "done")
    missed = Counter(h.goal_id for h in homework if h.outcome == "missed")
    facts = [
        prep.GoalFact(**_fields(row, prep.GoalFact))
        for row in await _rows(conn, prep_goal_facts, clinic_id, client_id)
    ]
    goals = [
        GoalProgress(
            **vars(goal)
            | _agreed_words(words.get(goal.goal_id))
            | {"revised": goal.goal_id in revised},
            homework_done=done[goal.goal_id],
            homework_missed=missed[goal.goal_id],
        )
        for goal in prep.fold_goals(facts)
        if goal.is_open
    ]
    measures = [
        prep.Measure(**_fields(row, prep.Measure))
        for row in await _rows(conn, prep_measures, clinic_id, client_id)
    ]
    alerts = [
        prep.AllianceAlert(**_fields(row, prep.AllianceAlert))
        for row in await _rows(conn, prep_alliance_alerts, clinic_id, client_id)
    ]
    alert = prep.open_alert(alerts, measures)
    flags = [
        prep.RiskFlag(**_fields(row, prep.RiskFlag))
        for row in await _rows(conn, prep_risk_flags, clinic_id, client_id)
    ]
    plan_path = safety_plan_path(clinic_id, client_id)
    asks = [
        prep.MeasureAsk(**_fields(row, prep.MeasureAsk))
        for row in await _rows(conn, prep_measure_asks, clinic_id, client_id)
    ]
    return PrepBrief(
        client_id=client_id,
        since=since,
        last_session=last,
        goals=goals,
        homework=homework,
        measures=[MeasureLine(**vars(m)) for m in prep.latest_measures(measures)],
        alliance_alert=AllianceAlertLine(**vars(alert)) if alert else None,
        safety_plan=await safety_plans.status(conn, store, clinic_id, client_id),
        risk_flags=[
            RiskFlagLine(**vars(flag), safety_plan=plan_path)
            for flag in prep.open_risk_flags(flags)
        ],
        measures_due=[MeasureDueLine(**vars(ask)) for ask in prep.asks_due(asks)],
        measures_missed=[
            MeasureMissedLine(**vars(ask), missed_at=ask.closed_at)
            for ask in prep.asks_missed(asks, since)
        ],
    )


async def _last_session(
    conn: AsyncConnection, store: PrivateEventStore, clinic_id: str, client_id: str
) -> LastSession | None:
    sessions = notes_sessions.c
    session_id = (
        await conn.execute(
            select(sessions.session_id)
            .where(
                sessions.clinic_id == clinic_id,
                sessions.client_id == client_id,
                sessions.status == SessionStatus.CLOSED.value,
            )
            .order_by(sessions.closed_at.desc(), sessions.session_id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if session_id is None:
        return None
    # The plan itself lives in the session's own stream (the closing event), not in a table.
    session = await repository.load(conn, store, clinic_id, session_id)
    closing = session.closing
    assert closing is not None  # the projection says it is closed
    note = session.note
    goals, homework = session.plan
    refused = await views.refused_items(conn, clinic_id, [session_id])
    return LastSession(
        session_id=session_id,
        closed_at=closing.closed_at,
        next_session_at=closing.next_session_at,
        goals=goals,
        homework=homework,
        note_plan=note.sections.get("plan") if note else None,
        refused=refused.get(session_id, []),
    )


async def _rows(
    conn: AsyncConnection, table: Table, clinic_id: str, client_id: str
) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(table).where(table.c.clinic_id == clinic_id, table.c.client_id == client_id)
    )
    return [_utc_times(dict(row)) for row in result.mappings()]


def _utc_times(row: dict[str, Any]) -> dict[str, Any]:
    return {k: to_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _fields(row: dict[str, Any], kind: type) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    return {name: value for name, value in row.items() if name in names}


def _agreed_words(words: GoalWording | None) -> dict[str, str]:
    if words is None:
        return {}  # agreed outside a session: this service never knew its words
    return {"description": words.description, "target": words.target}


def _outcome_line(
    outcome: prep.Outcome, homework: dict[str, Any] | None, instructions: str | None
) -> HomeworkOutcome:
    return HomeworkOutcome(
        homework_id=outcome.homework_id,
        goal_id=outcome.goal_id or (homework or {}).get("goal_id"),
        instructions=instructions,
        due_at=outcome.due_at,
        outcome=outcome.outcome,
        at=outcome.at,
        self_rating=outcome.self_rating,
    )
