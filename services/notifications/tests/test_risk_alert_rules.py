"""A risk alert's rules (pure code): one per person the flag names, every channel, no quiet
hours, and words that point to the safety plan."""

from datetime import UTC, datetime, time
from uuid import uuid4
from zoneinfo import ZoneInfo

from rapport_notifications.domain.alerts import risk_alert_reminders
from rapport_notifications.domain.events import ReminderComposed
from rapport_notifications.domain.messages import render
from rapport_notifications.domain.recipients import QuietHours, RecipientProfile
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import RiskFlagRaised
from rapport_shared.contracts.notifications import ReminderScheduled

# 23:30 in London: inside quiet hours of 22:00-07:00.
NIGHT = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)


def _flag(*recipients: str) -> RiskFlagRaised:
    return RiskFlagRaised(
        clinic_id="northside",
        flag_id=uuid4(),
        measure_id=uuid4(),
        client_id="alice",
        instrument="PHQ-9",
        item=9,
        score=2,
        threshold=1,
        alert_recipient_ids=recipients,
        raised_at=NIGHT,
    )


def _events(flag: RiskFlagRaised) -> list[EventContract]:
    return [event for alert in risk_alert_reminders(flag, NIGHT) for event in alert]


def test_one_alert_per_person_named_each_due_now_and_stable() -> None:
    flag = _flag("kim", "ada")
    events = _events(flag)
    scheduled = [e for e in events if isinstance(e, ReminderScheduled)]
    assert [(s.recipient_id, s.kind, s.due_at, s.alert_id) for s in scheduled] == [
        ("kim", "risk-alert", NIGHT, flag.flag_id),
        ("ada", "risk-alert", NIGHT, flag.flag_id),
    ]
    assert len({s.reminder_id for s in scheduled}) == 2
    # A redelivered flag derives the same reminders.
    again = [e for e in _events(flag) if isinstance(e, ReminderScheduled)]
    assert [s.reminder_id for s in again] == [s.reminder_id for s in scheduled]


def test_quiet_hours_and_opt_outs_do_not_hold_a_risk_alert_back() -> None:
    profile = RecipientProfile(
        time_zone="Europe/London",
        quiet_hours=QuietHours(time(22), time(7)),
        has_email=True,
        preferences={"risk-alert": (), "alliance-alert": ("feed",)},
    )
    assert profile.quiet_until(NIGHT, "risk-alert") is None
    assert profile.channels_for("risk-alert") == ("feed", "email")
    # Every other kind still waits for the morning and keeps the recipient's choice.
    assert profile.quiet_until(NIGHT, "alliance-alert") == datetime(2026, 12, 8, 7, tzinfo=UTC)
    assert profile.channels_for("alliance-alert") == ("feed",)


def test_the_words_say_what_was_answered_and_where_the_safety_plan_is() -> None:
    (composed,) = [e for e in _events(_flag("kim")) if isinstance(e, ReminderComposed)]
    message = render("risk-alert", composed.facts, "alice", ZoneInfo("Europe/London"))
    assert "item 9 of the PHQ-9 (thoughts of being better off dead or of self-harm) with 2" in (
        message.body
    )
    assert "/clinics/northside/clients/alice/safety-plan" in message.body
    assert message.subject.startswith("Risk alert")
