"""Alerts, sent right away: a risk alert (a risk item of a measure answered at or above the
clinic's threshold) to everyone the flag names, on every channel and through quiet hours; to the
counselor, an alliance alert (a low Session Rating Scale total) and an item of a session's agreed
plan that the goals service could not apply."""

from datetime import datetime
from uuid import uuid5

from rapport_notifications.domain.events import ReminderFacts
from rapport_notifications.domain.model import (
    ALLIANCE_ALERT,
    RISK_ALERT,
    About,
    reminder_id_for,
    schedule_reminder,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import AllianceAlertRaised, PlanItemRefused, RiskFlagRaised
from rapport_shared.contracts.notifications import ReminderKind
from rapport_shared.contracts.sessions import safety_plan_path

PLAN_ITEM_REFUSED: ReminderKind = "plan-item-refused"


def alliance_alert_reminder(raised: AllianceAlertRaised, now: datetime) -> list[EventContract]:
    return schedule_reminder(
        reminder_id=reminder_id_for(raised.alert_id, ALLIANCE_ALERT),
        clinic_id=raised.clinic_id,
        kind=ALLIANCE_ALERT,
        recipient_id=raised.counselor_id,
        due_at=now,
        about=About(client_id=raised.client_id, alert_id=raised.alert_id),
        facts=ReminderFacts(srs_total=raised.srs_total, srs_threshold=raised.threshold),
    )


def plan_item_refused_alert(refused: PlanItemRefused, now: datetime) -> list[EventContract]:
    """One alert per refused item, derived from its id: a redelivery finds the same one."""
    return schedule_reminder(
        reminder_id=reminder_id_for(refused.item_id, PLAN_ITEM_REFUSED),
        clinic_id=refused.clinic_id,
        kind=PLAN_ITEM_REFUSED,
        recipient_id=refused.counselor_id,
        due_at=now,
        about=About(client_id=refused.client_id, session_id=refused.session_id),
        facts=ReminderFacts(
            session_at=refused.refused_at,
            refused_kind=refused.kind,
            refused_index=refused.item_index,
            refused_reason=refused.reason,
        ),
    )


def risk_alert_reminders(raised: RiskFlagRaised, now: datetime) -> list[list[EventContract]]:
    """One alert per person the flag names (each the first events of its stream), derived from
    the flag and the person: a redelivered flag finds the alerts it created."""
    facts = ReminderFacts(
        risk_instrument=raised.instrument,
        risk_item=raised.item,
        risk_score=raised.score,
        safety_plan_path=safety_plan_path(raised.clinic_id, raised.client_id),
    )
    return [
        schedule_reminder(
            reminder_id=reminder_id_for(uuid5(raised.flag_id, recipient_id), RISK_ALERT),
            clinic_id=raised.clinic_id,
            kind=RISK_ALERT,
            recipient_id=recipient_id,
            due_at=now,
            about=About(client_id=raised.client_id, alert_id=raised.flag_id),
            facts=facts,
        )
        for recipient_id in dict.fromkeys(raised.alert_recipient_ids)
    ]
