"""Progress read models: adherence, GAS levels and T-scores, measures and their change, the
unrealistic flag. Only ever per goal or per client: no view compares or ranks clients."""

from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, RowMapping, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals import safety_views
from rapport_goals.domain import gas, measures, progress
from rapport_goals.tables import (
    client_homework,
    client_measures,
    goal_history,
    goal_progress,
    homework_outcomes,
)
from rapport_goals.views import StoredInstant, goal_row
from rapport_shared.contracts.clock import to_utc
from rapport_shared.contracts.goals import AchievementStatus, Instrument, LifecycleStatus
from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.security import care_team
from rapport_shared.security.access import unseen


class ProgressCounts(BaseModel):
    homework_assigned: int
    homework_completed: int
    completed_on_time: int


class AdherenceView(BaseModel):
    due: int = Field(description="Occurrences that fell due and were completed or missed")
    completed: int
    on_time: int
    rate: float | None
    on_time_rate: float | None
    streak: int = Field(description="Consecutive on-time completions up to the latest one")


class LevelAt(BaseModel):
    reviewed_at: StoredInstant
    level: int


class GoalProgress(ProgressCounts):
    goal_id: UUID
    client_id: str
    lifecycle_status: LifecycleStatus
    achievement_status: AchievementStatus
    adherence: AdherenceView
    gas_levels: list[LevelAt]
    gas_t_score: float | None = Field(description="This goal alone on the GAS T-score scale")
    unrealistic: bool = Field(
        description="No GAS gain over the last 3 reviews and adherence under the threshold"
    )


class MeasurePoint(BaseModel):
    measure_id: UUID
    recorded_at: StoredInstant
    total: int
    band: str | None
    alliance_alert: bool


class MeasureView(MeasurePoint):
    client_id: str
    instrument: Instrument
    items: list[int]


class ChangeView(BaseModel):
    measures: list[Instrument]
    caseness_at_start: bool
    caseness_now: bool
    outcome: str
    recovered: bool
    reliably_recovered: bool


class ClientProgress(BaseModel):
    client_id: str
    goals: list[GoalProgress]
    total: ProgressCounts = Field(
        description="All the client's homework, including homework that serves no goal"
    )
    adherence: AdherenceView
    gas_t_score: float | None = Field(
        description="Kiresuk-Sherman T over the client's active goals with a GAS scale"
    )
    measures: dict[str, list[MeasurePoint]] = Field(description="Per instrument, oldest first")
    change: ChangeView | None = Field(
        description="PHQ-9/GAD-7 first to latest, classified as NHS Talking Therapies does; "
        "null until one of them was measured twice"
    )
    classifications: dict[str, safety_views.ClassificationView] = Field(
        description="Per instrument measured, its series classified, with the rules that did it"
    )
    risk_flags: list[safety_views.RiskFlagView] = Field(
        description="Risk flags not yet acknowledged, oldest first"
    )
    measure_asks: list[safety_views.MeasureAskView] = Field(
        description="Measures asked for that are due (open) or were missed, by due time"
    )


async def goal_progress_of(
    conn: AsyncConnection, clinic_id: str, goal_id: UUID, adherence_threshold: float
) -> GoalProgress:
    row = await goal_row(conn, clinic_id, goal_id)
    outcomes = await _outcomes(conn, homework_outcomes.c.goal_id == goal_id)
    levels = await _levels(conn, [goal_id])
    return _goal_progress(row, [o for _, o in outcomes], levels[goal_id], adherence_threshold)


async def client_progress(
    conn: AsyncConnection,
    keys: KeyRing,
    clinic_id: str,
    client_id: str,
    adherence_threshold: float,
) -> ClientProgress:
    goal_rows = [
        row._mapping
        for row in await conn.execute(
            select(goal_progress)
            .where(goal_progress.c.clinic_id == clinic_id, goal_progress.c.client_id == client_id)
            .order_by(goal_progress.c.agreed_at, goal_progress.c.goal_id)
        )
    ]
    outcomes = await _outcomes(
        conn,
        (homework_outcomes.c.clinic_id == clinic_id) & (homework_outcomes.c.client_id == client_id),
    )
    levels = await _levels(conn, [row["goal_id"] for row in goal_rows])
    goals = [
        _goal_progress(
            row,
            [o for goal_id, o in outcomes if goal_id == row["goal_id"]],
            levels[row["goal_id"]],
            adherence_threshold,
        )
        for row in goal_rows
    ]
    scored = [
        (row["gas_weight"], row["attained_level"])
        for row in goal_rows
        if row["lifecycle_status"] == "active"
        and row["gas_scale"] is not None
        and row["attained_level"] is not None
    ]
    points = await _measures(conn, clinic_id, client_id)
    total = await _totals(conn, clinic_id, client_id)
    asks = await safety_views.due_or_missed(conn, clinic_id, client_id)
    if not (goal_rows or points or total.homework_assigned or asks) and not await _known(
        conn, keys, clinic_id, client_id
    ):
        raise unseen("client_id")
    return ClientProgress(
        client_id=client_id,
        goals=goals,
        total=total,
        adherence=_adherence([o for _, o in outcomes]),
        gas_t_score=_rounded(gas.t_score(scored)),
        measures={name: series for name, series in points.items()},
        change=_change(points),
        classifications=safety_views.classifications(
            {name: [point.total for point in series] for name, series in points.items()}
        ),
        risk_flags=await safety_views.open_flags(conn, clinic_id, client_id) if points else [],
        measure_asks=asks,
    )


async def measure(conn: AsyncConnection, measure_id: UUID) -> MeasureView:
    row = (
        await conn.execute(
            select(client_measures).where(client_measures.c.measure_id == measure_id)
        )
    ).one()
    return MeasureView.model_validate(row._mapping)


def _goal_progress(
    row: RowMapping,
    outcomes: Sequence[progress.Outcome],
    levels: list[LevelAt],
    adherence_threshold: float,
) -> GoalProgress:
    adherence = _adherence(outcomes)
    latest = [(row["gas_weight"], levels[-1].level)] if levels else []
    return GoalProgress.model_validate(
        {
            **row,
            "adherence": adherence,
            "gas_levels": levels,
            "gas_t_score": _rounded(gas.t_score(latest)),
            "unrealistic": progress.unrealistic(
                [level.level for level in levels], adherence.rate, adherence_threshold
            ),
        }
    )


def _adherence(outcomes: Sequence[progress.Outcome]) -> AdherenceView:
    found = progress.adherence(outcomes)
    return AdherenceView(
        due=found.due,
        completed=found.completed,
        on_time=found.on_time,
        rate=_rounded(found.rate),
        on_time_rate=_rounded(found.on_time_rate),
        streak=found.streak,
    )


async def _outcomes(
    conn: AsyncConnection, where: ColumnElement[bool]
) -> list[tuple[UUID | None, progress.Outcome]]:
    rows = await conn.execute(select(homework_outcomes).where(where))
    return [
        (
            row.goal_id,
            progress.Outcome(
                due_at=to_utc(row.due_at),
                completed=row.completed_at is not None,
                on_time=row.on_time,
            ),
        )
        for row in rows
    ]


async def _levels(conn: AsyncConnection, goal_ids: Sequence[UUID]) -> dict[UUID, list[LevelAt]]:
    levels: dict[UUID, list[LevelAt]] = defaultdict(list)
    if not goal_ids:
        return levels
    rows = await conn.execute(
        select(goal_history.c.goal_id, goal_history.c.occurred_at, goal_history.c.attained_level)
        .where(goal_history.c.goal_id.in_(goal_ids), goal_history.c.attained_level.is_not(None))
        .order_by(goal_history.c.goal_id, goal_history.c.version)
    )
    for goal_id, reviewed_at, level in rows:
        levels[goal_id].append(LevelAt(reviewed_at=reviewed_at, level=level))
    return levels


async def _measures(
    conn: AsyncConnection, clinic_id: str, client_id: str
) -> dict[str, list[MeasurePoint]]:
    rows = await conn.execute(
        select(client_measures)
        .where(client_measures.c.clinic_id == clinic_id, client_measures.c.client_id == client_id)
        .order_by(client_measures.c.recorded_at, client_measures.c.measure_id)
    )
    series: dict[str, list[MeasurePoint]] = {}
    for row in rows:
        series.setdefault(row.instrument, []).append(MeasurePoint.model_validate(row._mapping))
    return series


def _change(points: dict[str, list[MeasurePoint]]) -> ChangeView | None:
    """A change needs a first and a latest measurement: an instrument measured once is left
    out, and with neither measured twice there is no change."""
    first: dict[Instrument, int] = {}
    latest: dict[Instrument, int] = {}
    for instrument in measures.CASENESS:
        if len(series := points.get(instrument, [])) >= 2:
            first[instrument], latest[instrument] = series[0].total, series[-1].total
    change = measures.classify(first, latest)
    return None if change is None else ChangeView.model_validate(change, from_attributes=True)


async def _totals(conn: AsyncConnection, clinic_id: str, client_id: str) -> ProgressCounts:
    homework = client_homework.c
    totals = await conn.execute(
        select(
            func.count().label("homework_assigned"),
            func.count(homework.completed_at).label("homework_completed"),
            func.coalesce(func.sum(case((homework.on_time, 1), else_=0)), 0).label(
                "completed_on_time"
            ),
        ).where(homework.clinic_id == clinic_id, homework.client_id == client_id)
    )
    return ProgressCounts.model_validate(totals.one()._mapping)


async def _known(conn: AsyncConnection, keys: KeyRing, clinic_id: str, client_id: str) -> bool:
    """Whether this service knows a client it holds nothing for: one with a care team (assigned,
    nothing agreed yet) has an empty progress; anyone else is unknown (404), as an id that was
    never used is. Everything this service records about a client, a goal, homework or a
    measure, is in the read model: the caller has looked there first. An erased client is
    unknown again: their rows are gone for good, whatever care team they had."""
    if not await care_team.team_of(conn, clinic_id, client_id):
        return False
    return not await keys.is_erased(conn, clinic_id, client_id)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
