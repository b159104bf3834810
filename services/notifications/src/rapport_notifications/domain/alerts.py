"""An alliance alert (a low Session Rating Scale total) reaches the counselor right away."""

from datetime import datetime

from rapport_notifications.domain.events import ReminderFacts
from rapport_notifications.domain.model import (
    ALLIANCE_ALERT,
    About,
    reminder_id_for,
    schedule_reminder,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import AllianceAlertRaised


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
