"""Logs never carry tokens or clinical free text, whatever shape they arrive in."""

import json

import structlog

from rapport_shared.runtime.logging import configure_logging

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrMSIsImNsaW5pYyI6Im5vcnRoc2lkZSJ9.c2lnbmF0dXJlLWJ5dGVz"
NOTE = "Client disclosed a painful family conflict"


def test_tokens_and_clinical_text_are_redacted_from_json_logs(capsys):
    configure_logging("goals", "json")
    log = structlog.get_logger("test")
    log.info(
        "request failed",
        authorization=f"Bearer {JWT}",
        body=NOTE,
        request={"headers": {"Authorization": f"Bearer {JWT}"}, "json": {"journal": NOTE}},
        error=f"ValueError('bad token {JWT}')",
        nats="nats://goals:s3cret@nats-1:4222",
        client_id="client-ana",
    )
    try:
        raise RuntimeError(f"while handling note: Bearer {JWT}")
    except RuntimeError:
        log.exception("crashed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    text = "\n".join(json.dumps(line) for line in lines)
    assert JWT not in text
    assert "s3cret" not in text
    assert NOTE not in text
    first = lines[0]
    assert first["client_id"] == "client-ana"  # ids stay: they are what an operator needs
    assert first["nats"] == "nats://[redacted]@nats-1:4222"
    assert first["request"]["headers"]["Authorization"] == "[redacted]"
    assert "while handling note" in lines[1]["exception"]
