"""The environment the cross-service tests give every service process."""

from pathlib import Path

from rapport_shared.testing import SmtpCollector


def suite_env(tmp_path: Path, nats_url: str, smtp: SmtpCollector) -> dict[str, str]:
    return {
        "RAPPORT_NATS_URL": nats_url,
        "RAPPORT_DATA_DIR": str(tmp_path / "data"),
        "RAPPORT_LOG_FORMAT": "json",
        "RAPPORT_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "RAPPORT_NOTIFICATIONS_SMTP_PORT": str(smtp.port),
        "RAPPORT_NOTIFICATIONS_SCHEDULER_INTERVAL_SECONDS": "0.2",
        "RAPPORT_SESSIONS_RELAY_POLL_INTERVAL_SECONDS": "0.2",
        "RAPPORT_GOALS_RELAY_POLL_INTERVAL_SECONDS": "0.2",
        "RAPPORT_NOTIFICATIONS_RELAY_POLL_INTERVAL_SECONDS": "0.2",
    }
