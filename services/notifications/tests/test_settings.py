"""The service's settings: defaults, environment, and the rules between them."""

import os

import pytest
from pydantic import ValidationError

from rapport_notifications.settings import NotificationsSettings


def test_defaults_and_environment(monkeypatch):
    for name in [n for n in os.environ if n.startswith("RAPPORT_NOTIFICATIONS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RAPPORT_NOTIFICATIONS_REMINDER_LEAD_SECONDS", "3600")
    monkeypatch.setenv("RAPPORT_NOTIFICATIONS_SMTP_PORT", "2525")
    settings = NotificationsSettings()
    assert (settings.port, settings.reminder_lead_seconds, settings.smtp_port) == (8103, 3600, 2525)
    assert (settings.smtp_host, settings.smtp_sender) == ("127.0.0.1", "reminders@rapport.local")
    assert (settings.delivery_max_attempts, settings.scheduler_interval_seconds) == (5, 1.0)
    assert (settings.session_lead_seconds, settings.unsigned_note_after_seconds) == (86400, 86400)


def test_a_claim_must_outlast_a_delivery_round():
    # 10 reminders a round, each may take the 10 s SMTP and the 10 s webhook timeout: a 150 s
    # claim could lapse.
    with pytest.raises(ValidationError, match="delivery_claim_seconds"):
        NotificationsSettings(delivery_claim_seconds=150, scheduler_batch_size=10)
    assert NotificationsSettings(delivery_claim_seconds=150, scheduler_batch_size=5)
    assert NotificationsSettings().delivery_claim_seconds == 600
