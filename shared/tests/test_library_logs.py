"""What libraries log (uvicorn, Alembic, nats-py) comes out like the service's own lines: JSON
with the service's name, redacted, at the configured level; SQLAlchemy's statement log stays
off."""

import json
import logging

import pytest

from rapport_shared.runtime.logging import configure_logging

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrMSIsImNsaW5pYyI6Im5vcnRoc2lkZSJ9.c2lnbmF0dXJlLWJ5dGVz"


def json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


def test_library_records_are_json_lines_with_the_service_and_redacted(capsys):
    configure_logging("goals", "json", "info")
    logging.getLogger("uvicorn.error").info(
        "database at %s", "postgresql+asyncpg://rapport:s3cret@db:5432/goals"
    )
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.7:5123", "GET", "/readyz", "1.1", 200
    )
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0007 -> 0008")
    try:
        raise ConnectionError(f"nats://goals:s3cret@nats-1:4222 refused Bearer {JWT}")
    except ConnectionError:
        logging.getLogger("nats.aio.client").exception("nats: encountered error")

    database, access, migration, nats = json_lines(capsys)
    text = json.dumps([database, access, migration, nats])
    assert "s3cret" not in text
    assert JWT not in text
    assert database == {
        "event": "database at postgresql+asyncpg://[redacted]@db:5432/goals",
        "service": "goals",
        "level": "info",
        "logger": "uvicorn.error",
        "timestamp": database["timestamp"],
    }
    assert access["logger"] == "uvicorn.access"
    assert access["event"] == '10.0.0.7:5123 - "GET /readyz HTTP/1.1" 200'
    assert (migration["logger"], migration["level"], migration["service"]) == (
        "alembic.runtime.migration",
        "info",
        "goals",
    )
    assert nats["level"] == "error"
    assert "ConnectionError: nats://[redacted]@nats-1:4222" in nats["exception"]


def test_the_level_setting_applies_to_libraries_and_sql_statements_stay_unlogged(capsys):
    configure_logging("sessions", "json", "warning")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("nats.aio.client").warning("reconnecting")
    assert [line["event"] for line in json_lines(capsys)] == ["reconnecting"]

    configure_logging("sessions", "json", "debug")
    # At INFO SQLAlchemy would log every statement with its parameters (clinical data).
    logging.getLogger("sqlalchemy.engine.Engine").info("INSERT INTO notes ... ('I feel')")
    logging.getLogger("alembic").debug("context set up")
    assert [line["event"] for line in json_lines(capsys)] == ["context set up"]


def test_a_library_logger_given_its_own_handler_is_brought_back_to_the_pipeline(capsys):
    """As uvicorn's default log config does (a server run that way in the same process)."""
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler())
    access.propagate = False
    access.setLevel(logging.ERROR)
    configure_logging("notifications", "json")
    access.info("GET /metrics 200")
    [line] = json_lines(capsys)
    assert (line["event"], line["service"]) == ("GET /metrics 200", "notifications")


def test_configuring_again_does_not_double_the_lines(capsys):
    configure_logging("goals", "json")
    configure_logging("goals", "json")
    logging.getLogger("uvicorn.error").info("once")
    assert [line["event"] for line in json_lines(capsys)] == ["once"]
