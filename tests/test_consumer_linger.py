"""Which consumers linger after a batch that was not full, by default and when set: the ones
whose projections nobody waits on by the millisecond, and not goals' plans, which the person
closing a session waits on."""

import pytest

from rapport_goals.bootstrap import build_runtime as goals_runtime
from rapport_goals.settings import GoalsSettings
from rapport_notifications.bootstrap import build_runtime as notifications_runtime
from rapport_notifications.settings import NotificationsSettings
from rapport_sessions.bootstrap import build_runtime as sessions_runtime
from rapport_sessions.settings import SessionsSettings


def lingering(runtime) -> dict[str, float]:
    return {s.durable: s.linger_seconds for s in runtime.subscriptions}


def test_by_default_only_the_consumers_nobody_waits_on_linger(tmp_path, monkeypatch):
    for name in ("SESSIONS", "GOALS", "NOTIFICATIONS"):
        monkeypatch.delenv(f"RAPPORT_{name}_CONSUMER_LINGER_SECONDS", raising=False)
    data = str(tmp_path)
    assert lingering(sessions_runtime(SessionsSettings(data_dir=data))) == {"sessions-notes": 0.05}
    goals = lingering(goals_runtime(GoalsSettings(data_dir=data)))
    assert goals["goals-plans"] == 0 and not any(goals.values())
    notifications = lingering(notifications_runtime(NotificationsSettings(data_dir=data)))
    assert notifications["notifications"] == notifications["notifications-sessions"] == 0.05
    # Care teams authorize writes: a new member's access does not wait out a linger.
    assert not any(v for k, v in notifications.items() if "care-team" in k)


@pytest.mark.parametrize(
    ("service", "settings", "build", "durable"),
    [
        ("SESSIONS", SessionsSettings, sessions_runtime, "sessions-notes"),
        ("GOALS", GoalsSettings, goals_runtime, "goals-plans"),
        ("NOTIFICATIONS", NotificationsSettings, notifications_runtime, "notifications"),
    ],
)
def test_the_environment_sets_it(tmp_path, monkeypatch, service, settings, build, durable):
    monkeypatch.setenv(f"RAPPORT_{service}_CONSUMER_LINGER_SECONDS", "0.2")
    assert lingering(build(settings(data_dir=str(tmp_path))))[durable] == 0.2
