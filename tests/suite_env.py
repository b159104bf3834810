"""The environment the cross-service tests give every service process."""

from pathlib import Path

from rapport_devtools.testing import TEST_AUTH_SECRET, SmtpCollector

# The services check tokens with this secret; the tests' clients sign theirs with it
# (rapport_devtools.testing.ClinicAdminAuth, mint_test_token).
AUTH_ENV = {"RAPPORT_AUTH_SECRET": TEST_AUTH_SECRET}


def suite_env(tmp_path: Path, nats_url: str, smtp: SmtpCollector) -> dict[str, str]:
    return {
        **AUTH_ENV,
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
