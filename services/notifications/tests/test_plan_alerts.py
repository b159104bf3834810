"""A plan item the goals service could not apply reaches the counselor who agreed the plan, at
once, once per item, in words built from codes only."""

from datetime import UTC, datetime
from typing import get_args
from uuid import uuid4
from zoneinfo import ZoneInfo

from rapport_notifications.domain.alerts import plan_item_refused_alert
from rapport_notifications.domain.messages import REFUSAL_REASONS, render
from rapport_shared.contracts.goals import PlanItemRefused, RefusalReason
from rapport_shared.contracts.notifications import ReminderScheduled

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def refused(**changes: object) -> PlanItemRefused:
    event = PlanItemRefused(
        clinic_id="northside",
        session_id=uuid4(),
        client_id="ana",
        counselor_id="dr-okafor",
        kind="homework",
        item_index=0,
        item_id=uuid4(),
        reason="time-zone-unknown",
        field="homework.0.recurrence.time_zone",
        refused_at=datetime(2026, 3, 9, 17, 30, tzinfo=UTC),
    )
    return event.model_copy(update=changes)


def test_the_counselor_is_alerted_at_once_once_per_item():
    event = refused()
    scheduled, composed = plan_item_refused_alert(event, NOW)
    assert isinstance(scheduled, ReminderScheduled)
    assert (scheduled.kind, scheduled.recipient_id, scheduled.client_id, scheduled.due_at) == (
        "plan-item-refused",
        "dr-okafor",
        "ana",
        NOW,
    )
    assert scheduled.session_id == event.session_id
    # A redelivery finds the same reminder; another item of the same plan is another alert.
    assert plan_item_refused_alert(event, NOW)[0].reminder_id == scheduled.reminder_id
    other = plan_item_refused_alert(refused(item_id=uuid4(), item_index=1), NOW)[0]
    assert other.reminder_id != scheduled.reminder_id


def test_the_alert_says_which_item_of_which_plan_and_why():
    _, composed = plan_item_refused_alert(refused(kind="goal", item_index=1), NOW)
    message = render("plan-item-refused", composed.facts, "ana", ZoneInfo("Europe/Berlin"))
    assert message.subject == "Part of an agreed plan was not set up"
    assert message.body.startswith(
        "The 2nd goal of the plan you agreed with ana on Monday 9 March at 18:30 (Europe/Berlin)"
        " was not set up, because its time zone is not known."
    )


def test_every_reason_code_has_words():
    assert set(REFUSAL_REASONS) == set(get_args(RefusalReason))
