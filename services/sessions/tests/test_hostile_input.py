"""Hostile and careless input against the real sessions service (real database, real
nats-server): Idempotency-Key replays, size limits, edge validation, problem+json everywhere."""

import asyncio

import pytest
from sessions_support import CLINIC, OTHER_CLINIC, later, plan, running_service
from sqlalchemy import func, select

from rapport_shared.web.idempotency.table import idempotency_keys


def schedule_body(client_id: str = "alice") -> dict[str, str]:
    return {"client_id": client_id, "counselor_id": "kim", "starts_at": later(1)}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def assert_problem(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert field in [error["field"] for error in body.get("errors", [])], body
    return body


async def test_a_replayed_command_returns_the_first_response_and_stores_one_event(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        # No session_id in the body: without the key, a retry would schedule a second session.
        body = schedule_body()
        url = f"/clinics/{CLINIC}/sessions"
        first = await svc.http.post(url, json=body, headers=key("retry-me-1"))
        again = await svc.http.post(url, json=body, headers=key("retry-me-1"))
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["content-type"] == first.headers["content-type"]
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await svc.count_events("session-scheduled") == 1
        # The replay did not hide a fresh key: that one does schedule another session.
        fresh = await svc.http.post(url, json=body, headers=key("retry-me-2"))
        assert fresh.json()["session_id"] != first.json()["session_id"]
        assert await svc.count_events("session-scheduled") == 2


async def test_concurrent_retries_run_the_command_once(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        body = schedule_body()
        url = f"/clinics/{CLINIC}/sessions"
        responses = await asyncio.gather(
            *(svc.http.post(url, json=body, headers=key("burst")) for _ in range(6))
        )
        statuses = sorted(r.status_code for r in responses)
        # Each one either ran it, found it running (409), or got the stored answer (201).
        assert set(statuses) <= {201, 409}, statuses
        created = {r.json()["session_id"] for r in responses if r.status_code == 201}
        assert len(created) == 1
        assert await svc.count_events("session-scheduled") == 1


async def test_a_key_reused_with_another_body_is_refused_and_writes_nothing(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        url = f"/clinics/{CLINIC}/sessions"
        await svc.http.post(url, json=schedule_body("alice"), headers=key("k-1"))
        other = await svc.http.post(url, json=schedule_body("bruno"), headers=key("k-1"))
        assert_problem(other, 422, "Idempotency-Key")
        assert await svc.count_events("session-scheduled") == 1


async def test_keys_of_one_clinic_do_not_answer_another(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        body = schedule_body()
        ours = await svc.http.post(f"/clinics/{CLINIC}/sessions", json=body, headers=key("k"))
        theirs = await svc.http.post(
            f"/clinics/{OTHER_CLINIC}/sessions", json=body, headers=key("k")
        )
        assert ours.status_code == theirs.status_code == 201
        assert "Idempotent-Replayed" not in theirs.headers
        assert theirs.json()["session_id"] != ours.json()["session_id"]
        assert await svc.count_events("session-scheduled") == 2


async def test_a_refusal_is_replayed_not_rerun(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        session = await svc.schedule()
        at = f"/clinics/{CLINIC}/sessions/{session['session_id']}"
        sign = {"signed_by": "kim"}
        # Signing before there is a note: refused, and the refusal is what a retry gets, even
        # once a note exists and a fresh request would succeed.
        refused = await svc.http.post(f"{at}/notes/sign", json=sign, headers=key("sign-1"))
        assert refused.status_code == 409
        assert (await svc.http.post(f"{at}/notes", json={"body": "We met."})).status_code == 201
        again = await svc.http.post(f"{at}/notes/sign", json=sign, headers=key("sign-1"))
        assert again.status_code == 409
        assert again.json() == refused.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await svc.count_events("note-signed") == 0
        fresh = await svc.http.post(f"{at}/notes/sign", json=sign, headers=key("sign-2"))
        assert fresh.status_code == 200
        assert await svc.count_events("note-signed") == 1


@pytest.mark.parametrize("bad_key", ["x" * 129, "two words", "semi;colon", "<script>"])
async def test_malformed_keys_are_refused_naming_the_header(
    database_url, nats_server, tmp_path, bad_key
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        response = await svc.http.post(
            f"/clinics/{CLINIC}/sessions", json=schedule_body(), headers=key(bad_key)
        )
        assert_problem(response, 422, "Idempotency-Key")
        assert await svc.count_events() == 0
        async with svc.runtime.engine.connect() as conn:
            query = select(func.count()).select_from(idempotency_keys)
            assert (await conn.execute(query)).scalar_one() == 0


async def test_oversized_bodies_are_refused_with_413(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        limit = svc.runtime.settings.max_body_bytes
        session = await svc.schedule()
        url = f"/clinics/{CLINIC}/sessions/{session['session_id']}/notes"
        response = await svc.http.post(url, json={"body": "x" * (limit + 1)})
        assert_problem(response, 413, "body")
        assert await svc.count_events() == 1


async def test_careless_requests_get_problem_json_naming_the_field(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        url = f"/clinics/{CLINIC}/sessions"
        naive = {**schedule_body(), "starts_at": "2026-12-01T09:00:00"}
        assert_problem(await svc.http.post(url, json=naive), 422, "starts_at")
        # At the calendar's edge an offset cannot even be converted to UTC: refused, not a 500.
        edge = {**schedule_body(), "starts_at": "9999-12-31T23:59:59-12:00"}
        assert_problem(await svc.http.post(url, json=edge), 422, "starts_at")
        assert_problem(
            await svc.http.post("/clinics/Not_A_Slug/sessions", json=schedule_body()),
            422,
            "clinic_id",
        )
        assert_problem(
            await svc.http.post(url, json={**schedule_body(), "client_id": "../etc/passwd"}),
            422,
            "client_id",
        )
        assert_problem(
            await svc.http.post(url, content=b'{"client_id": "alice",', headers=json_type()),
            422,
            "body",
        )
        assert_problem(
            await svc.http.post(url, content=b"client_id=alice", headers=form_type()),
            415,
            "Content-Type",
        )
        session = await svc.schedule()
        cancel = f"{url}/{session['session_id']}/cancel"
        assert_problem(await svc.http.post(cancel, json={"reason": "bored"}), 422, "reason")
        close = f"{url}/{session['session_id']}/close"
        many = {"goals": [plan()["goals"][0]] * 21}
        assert_problem(await svc.http.post(close, json=many), 422, "goals")
        goal = {
            **plan()["goals"][0],
            "milestones": [{"description": "x", "due_date": "2030-01-01"}] * 21,
        }
        assert_problem(
            await svc.http.post(close, json={"goals": [goal]}), 422, "goals.0.milestones"
        )
        typo = {**plan()["goals"][0], "milestone": []}
        assert_problem(await svc.http.post(close, json={"goals": [typo]}), 422, "goals.0.milestone")
        notes = f"{url}/{session['session_id']}/notes"
        section = {"format": "SOAP", "sections": {"s" * 65: "x"}}
        response = await svc.http.post(notes, json=section)
        assert response.status_code == 422 and response.json()["errors"][0]["field"].startswith(
            "sections"
        )
        assert await svc.count_events() == 1


async def test_unknown_routes_and_wrong_methods_answer_problem_json(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        missing = await svc.http.get("/no/such/thing")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        wrong = await svc.http.delete(f"/clinics/{CLINIC}/sessions")
        assert wrong.status_code == 405
        assert wrong.headers["content-type"] == "application/problem+json"
        assert "POST" in wrong.headers["allow"]


def json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def form_type() -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded"}
