"""Read models of clinical safety and measures on a schedule, for one client (or one clinic's
settings): open risk flags, the asks due or missed, each instrument's classification with the
rules that produced it, the measurement plan and the clinic's risk settings."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals.domain import instruments
from rapport_goals.domain.measurement import MeasurementPlan
from rapport_goals.domain.risk import RiskPolicy
from rapport_goals.tables import measure_asks, risk_flags
from rapport_goals.views import StoredInstant
from rapport_shared.contracts.errors import NotFound
from rapport_shared.contracts.goals import Instrument, MeasureSchedule, MeasureTiming


class RiskSettingsView(BaseModel):
    threshold: int = Field(description="An answer at or above it on a risk item raises a flag")
    alert_care_team: bool
    admin_ids: list[str] = Field(description="Admins alerted of every flag, besides the team")


class RiskFlagView(BaseModel):
    flag_id: UUID
    measure_id: UUID
    instrument: Instrument
    item: int = Field(description="The item's number on the form, 1-based")
    score: int
    raised_at: StoredInstant
    acknowledged_by: str | None
    acknowledged_at: StoredInstant | None


class MeasureAskView(BaseModel):
    ask_id: UUID
    instrument: Instrument
    timing: MeasureTiming
    session_id: UUID | None
    ask_at: StoredInstant
    due_at: StoredInstant
    deadline: StoredInstant
    status: str = Field(description="open (due), fulfilled, missed or withdrawn")
    closed_at: StoredInstant | None


class ClassificationView(BaseModel):
    instrument: Instrument
    measurements: int
    first_total: int
    latest_total: int
    latest_band: str | None
    case_at_start: bool | None = Field(description="null: the instrument has no clinical cutoff")
    case_now: bool | None
    change: int | None = Field(description="Improvement in points; null with one measurement")
    outcome: instruments.Outcome
    recovery: instruments.Recovery
    reliable_recovery: instruments.Recovery
    alliance_concern: bool | None
    rules: list[str] = Field(description="The rules that produced this classification")


class MeasurementPlanView(BaseModel):
    client_id: str
    schedules: list[MeasureSchedule]
    time_zone: str
    first_at: datetime | None
    set_by: str
    set_at: datetime


def settings_view(policy: RiskPolicy) -> RiskSettingsView:
    return RiskSettingsView(
        threshold=policy.threshold,
        alert_care_team=policy.alert_care_team,
        admin_ids=list(policy.admin_ids),
    )


async def flag(conn: AsyncConnection, flag_id: UUID) -> RiskFlagView:
    row = (await conn.execute(select(risk_flags).where(risk_flags.c.flag_id == flag_id))).one()
    return RiskFlagView.model_validate(row._mapping)


async def open_flags(conn: AsyncConnection, clinic_id: str, client_id: str) -> list[RiskFlagView]:
    rows = await conn.execute(
        select(risk_flags)
        .where(
            risk_flags.c.clinic_id == clinic_id,
            risk_flags.c.client_id == client_id,
            risk_flags.c.acknowledged_at.is_(None),
        )
        .order_by(risk_flags.c.raised_at, risk_flags.c.item)
    )
    return [RiskFlagView.model_validate(row._mapping) for row in rows]


async def due_or_missed(
    conn: AsyncConnection, clinic_id: str, client_id: str
) -> list[MeasureAskView]:
    rows = await conn.execute(
        select(measure_asks)
        .where(
            measure_asks.c.clinic_id == clinic_id,
            measure_asks.c.client_id == client_id,
            measure_asks.c.status.in_(("open", "missed")),
        )
        .order_by(measure_asks.c.due_at, measure_asks.c.instrument)
    )
    return [MeasureAskView.model_validate(row._mapping) for row in rows]


def classifications(totals: dict[str, Sequence[int]]) -> dict[str, ClassificationView]:
    """Per instrument with at least one measurement, its series classified (oldest first)."""
    found: dict[str, ClassificationView] = {}
    for instrument in instruments.RULES:
        if series := totals.get(instrument):
            classified = instruments.classify_series(instrument, series)
            found[instrument] = ClassificationView.model_validate(classified, from_attributes=True)
    return found


def plan_view(plan: MeasurementPlan) -> MeasurementPlanView:
    if plan.current is None:
        raise NotFound("no measurement plan is set for this client", field=None)
    return MeasurementPlanView.model_validate(plan.current, from_attributes=True)
