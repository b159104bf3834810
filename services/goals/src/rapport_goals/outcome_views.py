"""A clinic's outcomes over a period (domain.outcomes), from the read model: each client with a
measure recorded, a homework occurrence due or a measure ask due in the period, with their
measures of the period, their homework occurrences due in it, their asks due in it that were
fulfilled or missed, and their GAS T-score as the progress view computes it now.

Clinic admins and auditors see the clinic; a counselor sees the clients whose care team they
are on now (their caseload). Nothing is counted or shown per counselor.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Table, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals.domain import gas
from rapport_goals.domain.outcomes import ClientPeriod, outcomes
from rapport_goals.tables import client_measures, goal_progress, homework_outcomes, measure_asks
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.goals import Instrument
from rapport_shared.security import care_team


class RateView(BaseModel):
    count: int
    of: int
    rate: float | None = Field(description="count / of to four places; null when of is 0")


class OutcomesView(BaseModel):
    clinic_id: str
    scope: Literal["clinic", "caseload"]
    period_from: date
    period_to: date = Field(description="Inclusive: the period ends at the end of this day, UTC")
    clients: int
    with_first_and_last: int = Field(
        description="Clients with two PHQ-9 or GAD-7 measurements or more in the period"
    )
    reliable_improvement: RateView
    reliable_deterioration: RateView
    recovery: RateView = Field(description="Of the clients at caseness at their first measure")
    reliable_recovery: RateView
    gas_t_scores: dict[str, int] = Field(description="Clients per bin of their latest T-score")
    homework_adherence: RateView = Field(description="Occurrences completed of those due")
    measures_completed: RateView = Field(description="Asks fulfilled of those fulfilled or missed")


async def clinic_outcomes(
    conn: AsyncConnection, clinic_id: str, since: date, until: date, counselor: str | None
) -> OutcomesView:
    """counselor: only their caseload; None: the whole clinic."""
    if until < since:
        raise DomainError("the period's end is before its start", field="to")
    start = datetime.combine(since, time(), UTC)
    end = datetime.combine(until + timedelta(days=1), time(), UTC)
    caseload = None if counselor is None else await care_team.clients_of(conn, clinic_id, counselor)
    periods: dict[str, dict[str, Any]] = defaultdict(dict)
    totals: dict[str, dict[Instrument, list[int]]] = defaultdict(dict)

    def ours(table: Table, moment: ColumnElement[Any]) -> ColumnElement[bool]:
        """The table's rows of the clinic (or the caseload) with the moment in the period."""
        where = (table.c.clinic_id == clinic_id) & (moment >= start) & (moment < end)
        if caseload is not None:
            where &= table.c.client_id.in_(caseload)
        return where

    measures = await conn.execute(
        select(client_measures.c.client_id, client_measures.c.instrument, client_measures.c.total)
        .where(ours(client_measures, client_measures.c.recorded_at))
        .order_by(client_measures.c.recorded_at, client_measures.c.measure_id)
    )
    for client_id, instrument, total in measures:
        totals[client_id].setdefault(instrument, []).append(total)
    homework = await conn.execute(
        select(
            homework_outcomes.c.client_id,
            func.count(),
            func.count(homework_outcomes.c.completed_at),
        )
        .where(ours(homework_outcomes, homework_outcomes.c.due_at))
        .group_by(homework_outcomes.c.client_id)
    )
    for client_id, due, completed in homework:
        periods[client_id] |= {"homework_assigned": due, "homework_completed": completed}
    fulfilled = case((measure_asks.c.status == "fulfilled", 1), else_=0)
    asks = await conn.execute(
        select(measure_asks.c.client_id, func.count(), func.sum(fulfilled))
        .where(
            ours(measure_asks, measure_asks.c.due_at),
            measure_asks.c.status.in_(("fulfilled", "missed")),
        )
        .group_by(measure_asks.c.client_id)
    )
    for client_id, due, completed in asks:
        periods[client_id] |= {"measures_due": due, "measures_completed": int(completed)}
    clients = sorted(set(periods) | set(totals))
    t_scores = await _gas_t_scores(conn, clinic_id, clients)
    found = outcomes(
        ClientPeriod(
            client_id,
            totals.get(client_id, {}),
            t_scores.get(client_id),
            **periods.get(client_id, {}),
        )
        for client_id in clients
    )
    return OutcomesView.model_validate(
        {
            **{name: getattr(found, name) for name in type(found).__dataclass_fields__},
            "clinic_id": clinic_id,
            "scope": "clinic" if caseload is None else "caseload",
            "period_from": since,
            "period_to": until,
        },
        from_attributes=True,
    )


async def _gas_t_scores(
    conn: AsyncConnection, clinic_id: str, clients: Collection[str]
) -> dict[str, float]:
    """Each client's Kiresuk-Sherman T over their active goals with a GAS scale and a level,
    rounded as the progress view rounds it."""
    if not clients:
        return {}
    goals = goal_progress.c
    rows = await conn.execute(
        select(goals.client_id, goals.gas_weight, goals.attained_level).where(
            goals.clinic_id == clinic_id,
            goals.client_id.in_(clients),
            goals.lifecycle_status == "active",
            goals.gas_scale.is_not(None),
            goals.attained_level.is_not(None),
        )
    )
    scored: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for client_id, weight, level in rows:
        scored[client_id].append((weight, level))
    return _rounded((client_id, gas.t_score(levels)) for client_id, levels in scored.items())


def _rounded(scores: Iterable[tuple[str, float | None]]) -> dict[str, float]:
    return {client_id: round(score, 2) for client_id, score in scores if score is not None}
