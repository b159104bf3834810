"""The HTTP API against a real nats-server and a real database (SQLite, and PostgreSQL when
configured)."""

import asyncio
import json
import uuid
from typing import Any

import nats
from nats.aio.msg import Msg
from sessions_support import CLINIC, OTHER_CLINIC, RunningService, due_in, later, plan

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import eventually, subscriptions_in_effect
from rapport_shared.eventsourcing.crypto import unseal_wording
from rapport_shared.eventsourcing.privatestore import PrivateEventStore

SECRET = "client-disclosed-SECRET-7f3a"


async def test_a_closed_session_is_published_as_a_cloudevent_without_its_note(
    service: RunningService, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    received: list[Msg] = []
    await nc.subscribe(f"rapport.{CLINIC}.sessions.>", cb=_collect(received))
    await subscriptions_in_effect(nc)
    try:
        session_id = str(uuid.uuid4())
        starts_at = "2030-01-07T09:00:00-08:00"
        created = await service.schedule(session_id=session_id, starts_at=starts_at)
        assert created == {
            **created,
            "session_id": session_id,
            "clinic_id": CLINIC,
            "client_id": "alice",
            "counselor_id": "kim",
            "status": "scheduled",
            "version": 1,
        }
        assert created["starts_at"].startswith("2030-01-07T09:00:00-08:00")
        base = f"/clinics/{CLINIC}/sessions/{session_id}"
        noted = await service.http.post(f"{base}/notes", json={"body": f"S: {SECRET}"})
        assert (noted.status_code, noted.json()) == (201, {"session_id": session_id, "version": 2})

        body = plan(goals=2, homework_goal_index=1)
        closed = await service.http.post(
            f"{base}/close", json=body, headers={"X-Correlation-Id": "corr-close-1"}
        )
        assert closed.status_code == 200, closed.text
        state = closed.json()
        assert (state["status"], state["version"], state["note"]["body"]) == (
            "closed",
            4,  # session-closed and its private plan-worded
            f"S: {SECRET}",
        )
        assert [g["description"] for g in state["goals"]] == [
            g["description"] for g in body["goals"]
        ]
        assert state["homework"][0]["goal_index"] == 1

        await eventually(lambda: _count_at_least(received, 2))
        assert [m.subject for m in received] == [
            f"rapport.{CLINIC}.sessions.session-scheduled",
            f"rapport.{CLINIC}.sessions.session-closed",
        ]
        message = received[1]
        cloudevent = json.loads(message.data)
        assert message.headers is not None
        assert message.headers["Content-Type"] == "application/cloudevents+json"
        assert message.headers["Nats-Msg-Id"] == cloudevent["id"]
        assert {k: cloudevent[k] for k in _ENVELOPE} == {
            "specversion": "1.0",
            "type": "rapport.sessions.session-closed.v2",
            "source": f"/rapport/sessions/{CLINIC}",
            "subject": f"session-{session_id}",
            "datacontenttype": "application/json",
            "clinicid": CLINIC,
            "correlationid": "corr-close-1",
        }
        data = cloudevent["data"]
        assert (data["session_id"], data["client_id"], data["counselor_id"]) == (
            session_id,
            "alice",
            "kim",
        )
        assert [g["due_date"] for g in data["goals"]] == [g["due_date"] for g in body["goals"]]
        assert data["homework"][0]["goal_index"] == 1
        # The plan's words travel sealed: only the suite's seal key opens them.
        store = service.runtime.store
        assert isinstance(store, PrivateEventStore)
        wording = unseal_wording(store.seal_key, data["sealed_wording"])
        assert [g.description for g in wording.goals] == [g["description"] for g in body["goals"]]
        for copy in received:
            assert SECRET.encode() not in copy.data
            for goal in body["goals"]:
                assert goal["description"].encode() not in copy.data
        # The private note event never reaches the stream: only the two public events are there.
        info = await nc.jetstream().stream_info("RAPPORT_SESSIONS")
        assert info.state.messages == 2
    finally:
        await nc.close()


_ENVELOPE = ("specversion", "type", "source", "subject", "datacontenttype", "clinicid")
_ENVELOPE += ("correlationid",)


def _collect(received: list[Msg]) -> Any:
    async def on_message(message: Msg) -> None:
        received.append(message)

    return on_message


async def _count_at_least(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def test_recording_a_note_again_replaces_the_text(service: RunningService) -> None:
    session = await service.schedule()
    url = f"/clinics/{CLINIC}/sessions/{session['session_id']}"
    for body in ("first draft", "  final text\n  with layout"):
        assert (await service.http.post(f"{url}/notes", json={"body": body})).status_code == 201
    state = (await service.http.get(url)).json()
    assert (state["note"]["body"], state["version"]) == ("  final text\n  with layout", 3)


async def test_rule_violations_are_problems_naming_the_field_and_write_nothing(
    service: RunningService,
) -> None:
    session = await service.schedule()
    sessions = f"/clinics/{CLINIC}/sessions"
    one = f"{sessions}/{session['session_id']}"
    valid = {"client_id": "alice", "counselor_id": "kim", "starts_at": later(1)}
    homework = plan()["homework"][0]
    goal = plan()["goals"][0]
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/clinics/North_Side/sessions", valid, 422, "clinic_id"),
        (sessions, {**valid, "starts_at": "2030-01-07T09:00:00"}, 422, "starts_at"),
        (sessions, {**valid, "client_id": "alice smith"}, 422, "client_id"),
        (sessions, {"client_id": "alice", "starts_at": later(1)}, 422, "counselor_id"),
        (sessions, {**valid, "room": "4b"}, 422, "room"),
        (sessions, {**valid, "session_id": "42"}, 422, "session_id"),
        (sessions, {**valid, "session_id": session["session_id"]}, 409, "session_id"),
        (f"{one}/notes", {"body": ""}, 422, "body"),
        (f"{one}/notes", {"body": " \n "}, 422, "body"),
        (f"{one}/notes", {"body": "x" * 20_001}, 422, "body"),
        (f"{sessions}/not-a-uuid/notes", {"body": "ok"}, 422, "session_id"),
        (f"{sessions}/{uuid.uuid4()}/notes", {"body": "ok"}, 404, "session_id"),
        (f"{one}/close", {"homework": [homework]}, 422, "homework.0.goal_index"),
        (f"{one}/close", {"goals": [{**goal, "due_date": due_in(-3)}]}, 422, "goals.0.due_date"),
        (f"{one}/close", {"goals": [{**goal, "description": ""}]}, 422, "goals.0.description"),
        (f"{one}/close", {"next_session_at": later(hours=-1)}, 422, "next_session_at"),
        (f"{one}/close", {"next_session_at": "tomorrow"}, 422, "next_session_at"),
        (
            f"{one}/close",
            {"homework": [{**homework, "goal_index": None, "due_at": later(hours=-1)}]},
            422,
            "homework.0.due_at",
        ),
        (
            f"{one}/close",
            {"homework": [{**homework, "goal_index": -1}]},
            422,
            "homework.0.goal_index",
        ),
        (f"{one}/close", {"expected_version": 0}, 422, "expected_version"),
        (f"{one}/close", {"goals": [goal] * 21}, 422, "goals"),
    ]
    events_before = await service.count_events()
    rows_before = await service.projection_rows()
    for path, body, status, field in cases:
        response = await service.http.post(path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json", path
        problem = response.json()
        assert problem["status"] == status
        assert field in [e["field"] for e in problem["errors"]], (field, problem)

    bad_client = await service.http.get(f"/clinics/{CLINIC}/clients/alice smith/notes")
    assert bad_client.status_code == 422
    assert [e["field"] for e in bad_client.json()["errors"]] == ["client_id"]
    assert await service.count_events() == events_before
    assert await service.projection_rows() == rows_before
    assert (await service.http.get(one)).json()["status"] == "scheduled"


async def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(
    service: RunningService,
) -> None:
    session = await service.schedule()
    url = f"/clinics/{CLINIC}/sessions/{session['session_id']}"
    await service.http.post(f"{url}/notes", json={"body": "written after the counselor looked"})
    stale = await service.http.post(f"{url}/close", json={**plan(), "expected_version": 1})
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    assert await service.count_events("session-closed") == 0

    fresh = await service.http.post(f"{url}/close", json={**plan(), "expected_version": 2})
    assert (fresh.status_code, fresh.json()["version"]) == (200, 4)
    again = await service.http.post(f"{url}/close", json=plan())
    assert again.status_code == 409
    assert again.json()["title"] == "Conflict with current state"


async def test_of_concurrent_closes_of_one_session_exactly_one_wins(
    service: RunningService,
) -> None:
    session = await service.schedule()
    url = f"/clinics/{CLINIC}/sessions/{session['session_id']}/close"
    responses = await asyncio.gather(*(service.http.post(url, json=plan()) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert await service.count_events("session-closed") == 1
    state = (await service.http.get(url.removesuffix("/close"))).json()
    assert (state["status"], state["version"]) == ("closed", 3)


async def test_another_clinics_session_is_not_found_anywhere(service: RunningService) -> None:
    session = await service.schedule(client_id="alice")
    session_id = session["session_id"]
    elsewhere = f"/clinics/{OTHER_CLINIC}/sessions/{session_id}"
    for response in (
        await service.http.get(elsewhere),
        await service.http.post(f"{elsewhere}/notes", json={"body": "wrong clinic"}),
        await service.http.post(f"{elsewhere}/close", json=plan()),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["field"] == "session_id"
    # The id is taken suite-wide, so another clinic cannot create it either.
    duplicate = await service.http.post(
        f"/clinics/{OTHER_CLINIC}/sessions",
        json={
            "session_id": session_id,
            "client_id": "alice",
            "counselor_id": "kim",
            "starts_at": later(1),
        },
    )
    assert duplicate.status_code == 404
    assert duplicate.json()["errors"][0]["field"] == "session_id"
    notes = await service.http.get(f"/clinics/{OTHER_CLINIC}/clients/alice/notes")
    assert notes.json() == {"client_id": "alice", "sessions": []}
    own = (await service.http.get(f"/clinics/{CLINIC}/sessions/{session_id}")).json()
    assert (own["version"], own["note"], own["status"]) == (1, None, "scheduled")
