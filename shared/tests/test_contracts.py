"""Pure tests of the contracts, the envelope and the subject scheme."""

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError
from shared_tests_support import goal

from rapport_shared.contracts import ALL_CONTRACTS, envelope, public_registry
from rapport_shared.contracts.base import UnknownEventType
from rapport_shared.contracts.catalog import catalog
from rapport_shared.contracts.clinic import is_clinic_slug
from rapport_shared.contracts.goals import HomeworkCompleted
from rapport_shared.contracts.subjects import event_subject

DOCS_EVENTS = Path(__file__).parents[2] / "docs" / "events"


@pytest.mark.parametrize("slug", ["northside", "a", "clinic-7", "x" * 63])
def test_valid_clinic_slugs(slug):
    assert is_clinic_slug(slug)


@pytest.mark.parametrize(
    "bad", ["", "North", "a.b", "a*", "a>", "-a", "a-", "x" * 64, "a b", "nörd", "a_b"]
)
def test_anything_else_is_not_a_clinic_slug_and_never_becomes_a_subject(bad):
    assert not is_clinic_slug(bad)
    with pytest.raises(ValueError, match="slug"):
        event_subject(bad, "goals", "goal-agreed")


def test_contract_refuses_a_bad_clinic_id():
    with pytest.raises(ValidationError) as error:
        goal(clinic="North.Side")
    assert error.value.errors()[0]["loc"] == ("clinic_id",)


def test_naive_times_are_refused():
    with pytest.raises(ValidationError, match="timezone"):
        HomeworkCompleted(
            clinic_id="northside",
            homework_id=uuid4(),
            client_id="c1",
            due_at=datetime(2030, 1, 1),
            completed_at=datetime(2030, 1, 1, tzinfo=UTC),
        )


def test_envelope_round_trip_is_a_cloudevent_with_the_subject_scheme():
    event = goal("alice")
    message = envelope.encode(
        event,
        event_id="e-1",
        stream_id="goal-1",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        metadata={"correlation_id": "corr-1", "causation_id": "cause-1", "traceparent": "00-ab"},
    )
    assert message.subject == "rapport.northside.goals.goal-agreed"
    assert message.headers["Nats-Msg-Id"] == "e-1"
    assert message.headers["Content-Type"] == "application/cloudevents+json"
    body = json.loads(message.payload)
    assert body["specversion"] == "1.0"
    assert body["type"] == "rapport.goals.goal-agreed.v2"
    assert body["source"] == "/rapport/goals/northside"
    assert body["correlationid"] == "corr-1"
    assert body["causationid"] == "cause-1"
    decoded = envelope.decode(message.payload, public_registry())
    assert decoded.contract == event
    assert (decoded.event_id, decoded.correlation_id, decoded.traceparent) == (
        "e-1",
        "corr-1",
        "00-ab",
    )


@pytest.mark.parametrize(
    "payload, error",
    [
        (b"\xff\xfe", envelope.MalformedEvent),
        (b"[]", envelope.MalformedEvent),
        (b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t"}', envelope.MalformedEvent),
        (
            b'{"specversion":"1.0","id":"x","source":"s","type":"nope","data":{}}',
            envelope.MalformedEvent,
        ),
        (
            b'{"specversion":"1.0","id":"x","source":"s","type":"rapport.goals.goal-agreed.v1","data":{}}',
            envelope.MalformedEvent,
        ),
        (
            b'{"specversion":"1.0","id":"x","source":"s","type":"rapport.goals.goal-agreed.v9","data":{}}',
            UnknownEventType,
        ),
        (
            b'{"specversion":"1.0","id":"x","source":"s","type":"rapport.goals.unheard-of.v1","data":{}}',
            UnknownEventType,
        ),
    ],
)
def test_malformed_or_unknown_messages_are_told_apart_from_valid_ones(payload, error):
    with pytest.raises(error):
        envelope.decode(payload, public_registry())


def test_older_versions_are_upcast_on_read():
    registry = public_registry()
    data = goal().model_dump(mode="json")
    registry.register_upcaster("goal-agreed", 0, lambda old: {**old, "priority": "high"})
    loaded = registry.load("goal-agreed", 0, {**data, "priority": "low"})
    assert loaded.priority == "high"  # type: ignore[attr-defined]


def test_a_v1_goal_agreed_loses_its_words_and_keeps_its_structure():
    v1 = {**goal().model_dump(mode="json"), "description": "Walk daily", "measure": "m"}
    v1["milestones"] = [{"description": "First walk", "due_date": "2026-01-10"}]
    loaded = public_registry().load("goal-agreed", 1, v1)
    assert "description" not in loaded.model_dump_json()
    assert [str(m.due_date) for m in loaded.milestones] == ["2026-01-10"]  # type: ignore[attr-defined]


def test_unknown_fields_from_a_newer_compatible_producer_are_ignored():
    original = goal()
    data = {**original.model_dump(mode="json"), "added_later": 1}
    loaded = public_registry().load("goal-agreed", 2, data)
    assert loaded == original
    assert "added_later" not in loaded.model_dump()


def test_checked_in_event_catalog_matches_the_contracts():
    expected = catalog()
    on_disk = {p.name: p.read_text() for p in DOCS_EVENTS.glob("rapport.*.json")}
    assert on_disk == expected, "run: python -m rapport_shared.contracts.catalog docs/events"


def test_every_public_contract_is_in_the_catalog():
    names = set(catalog())
    assert {f"{c.cloudevent_type()}.json" for c in ALL_CONTRACTS if c.public} == names


def test_a_trace_continues_with_the_same_trace_id_and_a_new_span():
    from rapport_shared.telemetry.context import continue_trace

    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    onward = continue_trace(incoming)
    assert onward.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert onward.split("-")[2] != "00f067aa0ba902b7"
    started = continue_trace("garbage")
    assert len(started.split("-")[1]) == 32 and started.endswith("-01")
