"""Risk flags and the clinic's risk settings they are raised under.

A measure that answers a risk item at or above the clinic's threshold raises a flag in the
transaction that records it (risk-flag-raised on its own stream, published through the outbox),
naming whom to alert: the client's care team (this service's copy) and the admins the clinic
chose. A counselor acknowledges it once.

The settings are a row per clinic, not an event stream: they are configuration, read with every
PHQ-9 recorded, and no reader needs their past values; the audit log keeps who changed them and
when, as it does for every write.
"""

import json
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_goals.domain import risk
from rapport_goals.domain.instruments import risk_answers
from rapport_goals.service_layer.appending import record
from rapport_goals.tables import risk_settings
from rapport_shared.contracts.goals import MeasureRecorded, RiskFlagRaised
from rapport_shared.contracts.history import found
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.persistence.driver_sql import rows_on_driver
from rapport_shared.persistence.upserts import upsert
from rapport_shared.security import care_team

# No clinic's threshold is lower: an answer under it is flagged nowhere.
LOWEST_THRESHOLD = 1
_SETTINGS = ("threshold", "alert_care_team", "admin_ids", "updated_by", "updated_at")


# Built once and run on the driver: it is read with every measure that answers a risk item.
_POLICY = select(
    risk_settings.c.threshold, risk_settings.c.alert_care_team, risk_settings.c.admin_ids
).where(risk_settings.c.clinic_id == bindparam("clinic_id"))


async def policy_of(conn: AsyncConnection, clinic_id: str) -> risk.RiskPolicy:
    """The clinic's risk settings; the defaults until an admin sets them."""
    rows = await rows_on_driver(conn, _POLICY, {"clinic_id": clinic_id})
    if not rows:
        return risk.RiskPolicy()
    threshold, alert_care_team, admin_ids = rows[0]
    # As the driver gives them: JSON as text, SQLite's booleans as integers.
    admins = json.loads(admin_ids) if isinstance(admin_ids, str) else admin_ids
    return risk.RiskPolicy(threshold, bool(alert_care_team), tuple(admins))


async def set_policy(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    clinic_id: str,
    policy: risk.RiskPolicy,
    updated_by: str,
) -> None:
    policy.check()
    row = {
        "clinic_id": clinic_id,
        "threshold": policy.threshold,
        "alert_care_team": policy.alert_care_team,
        "admin_ids": list(policy.admin_ids),
        "updated_by": updated_by,
        "updated_at": now,
    }
    await upsert(conn, risk_settings, row, replace=_SETTINGS)


async def raise_flags(
    conn: AsyncConnection, store: EventStore, recorded: MeasureRecorded, now: datetime
) -> None:
    """A flag per risk item the measure answered at or above the clinic's threshold. Reads
    nothing for a measure whose risk items (if it has any) were all answered 0, which no
    threshold flags, and the care team only when a flag is raised and the clinic alerts it."""
    if not risk_answers(recorded.instrument, recorded.items, LOWEST_THRESHOLD):
        return
    policy = await policy_of(conn, recorded.clinic_id)
    if not risk_answers(recorded.instrument, recorded.items, policy.threshold):
        return
    team: list[str] = []
    if policy.alert_care_team:
        team = sorted(await care_team.team_of(conn, recorded.clinic_id, recorded.client_id))
    for flag in risk.raise_flags(recorded, policy, team, now):
        # The flag's id is derived from the measure, whose stream was new: so is the flag's.
        await record(conn, store, risk.risk_flag_stream(flag.flag_id), 0, [flag])


async def acknowledge(
    conn: AsyncConnection,
    store: EventStore,
    now: datetime,
    clinic_id: str,
    client_id: str,
    flag_id: UUID,
    acknowledged_by: str,
) -> None:
    """InvalidState (409) once acknowledged; another client's flag is as unknown as none."""
    stream = risk.risk_flag_stream(flag_id)
    history = await store.load_events(conn, stream)
    raised = history[0] if history else None
    if isinstance(raised, RiskFlagRaised) and raised.client_id != client_id:
        history = []
    flag = risk.RiskFlag.from_history(
        found(history, RiskFlagRaised, clinic_id, name="flag", aggregate_id=flag_id)
    )
    event = flag.acknowledge(acknowledged_by, now)
    await record(conn, store, stream, flag.version, [event])
