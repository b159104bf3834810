"""docker-compose.yml agrees with the services' own settings: each service, configured only by
the environment compose gives it, reaches the broker and its own PostgreSQL database on the port
compose publishes and probes."""

import os
from pathlib import Path

import pytest
import yaml

from rapport_goals.settings import GoalsSettings
from rapport_notifications.settings import NotificationsSettings
from rapport_sessions.settings import SessionsSettings

COMPOSE = yaml.safe_load((Path(__file__).parents[1] / "docker-compose.yml").read_text())
SETTINGS = {
    "sessions": SessionsSettings,
    "goals": GoalsSettings,
    "notifications": NotificationsSettings,
}
INIT_SQL = (Path(__file__).parents[1] / "deploy" / "postgres" / "init.sql").read_text()


def settings_from_compose(service: str, monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.startswith("RAPPORT_"):
            monkeypatch.delenv(name)
    for name, value in COMPOSE["services"][service]["environment"].items():
        monkeypatch.setenv(name, str(value))
    return SETTINGS[service]()


@pytest.mark.parametrize("service", SETTINGS)
def test_each_service_gets_its_broker_database_and_port_from_the_environment(service, monkeypatch):
    spec = COMPOSE["services"][service]
    settings = settings_from_compose(service, monkeypatch)
    assert settings.nats_url == "nats://nats:4222"
    url = settings.resolved_database_url(service)
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    database = url.rsplit("/", 1)[1]
    assert f"CREATE DATABASE {database};" in INIT_SQL  # one database per service
    assert settings.host == "0.0.0.0"
    assert str(settings.port) == spec["environment"]["PORT"]  # what the healthcheck probes
    published = spec.get("ports", []) + spec.get("expose", [])
    assert any(str(p).split(":")[-1] == str(settings.port) for p in published)
    assert "healthcheck" in spec
    assert spec["depends_on"] == {
        "nats": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }


def test_databases_are_distinct_per_service(monkeypatch):
    urls = {settings_from_compose(s, monkeypatch).resolved_database_url(s) for s in SETTINGS}
    assert len(urls) == len(SETTINGS)


def test_notifications_runs_several_replicas_without_host_port_clashes():
    spec = COMPOSE["services"]["notifications"]
    assert spec["deploy"]["replicas"] >= 2
    assert "ports" not in spec


def test_the_broker_keeps_its_data_and_has_jetstream_on():
    nats = COMPOSE["services"]["nats"]
    assert "-js" in nats["command"]
    assert any(v.endswith(":/data") for v in nats["volumes"])
    assert "healthcheck" in nats and "healthcheck" in COMPOSE["services"]["postgres"]


def test_the_image_recipe_is_multi_stage_non_root_and_health_checked():
    dockerfile = (Path(__file__).parents[1] / "deploy" / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2  # build with uv, run without it
    assert "uv sync --locked --no-dev --package rapport-${SERVICE}" in dockerfile
    runtime_stage = dockerfile.split(stages[-1], 1)[1]
    assert "USER rapport" in runtime_stage and "useradd --system" in runtime_stage
    assert "HEALTHCHECK" in runtime_stage and "/healthz" in runtime_stage
    for service in SETTINGS:
        build = COMPOSE["services"][service]["build"]
        assert build["dockerfile"] == "deploy/Dockerfile" and build["args"]["SERVICE"] == service


def test_services_share_the_token_secret_and_only_sessions_and_goals_the_seal_key():
    env = {name: COMPOSE["services"][name]["environment"] for name in SETTINGS}
    # One secret for every service's tokens, or a token minted for one is refused by another.
    assert len({e["RAPPORT_AUTH_SECRET"] for e in env.values()}) == 1
    assert env["sessions"]["RAPPORT_PLAN_SEAL_KEY"] == env["goals"]["RAPPORT_PLAN_SEAL_KEY"]
    assert "${RAPPORT_PLAN_SEAL_KEY:?" in env["sessions"]["RAPPORT_PLAN_SEAL_KEY"]
    assert "RAPPORT_PLAN_SEAL_KEY" not in env["notifications"]
