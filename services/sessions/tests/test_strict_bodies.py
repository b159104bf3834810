"""Strict bodies, bounded headers and a checked correlation id, against the real sessions service
(real database and nats-server; the header limit also through a real uvicorn server)."""

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from sessions_support import CLINIC, later, plan, running_service
from sqlalchemy import select

from rapport_devtools.natsserver import free_port
from rapport_devtools.testing import ClinicAdminAuth, eventually
from rapport_shared.persistence.schema import events_table

SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def schedule_body(**changes: Any) -> dict[str, Any]:
    return {"client_id": "alice", "counselor_id": "kim", "starts_at": later(1), **changes}


def errors_of(response: httpx.Response) -> dict[str, str]:
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"]: error["message"] for error in response.json()["errors"]}


async def stored_metadata(service: Any) -> list[dict[str, Any]]:
    query = select(events_table.c.metadata).order_by(events_table.c.position)
    async with service.runtime.engine.connect() as conn:
        return [row.metadata for row in await conn.execute(query)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"starts_at": 12345}, "starts_at"),  # was: a session in 1970
        ({"starts_at": "12345"}, "starts_at"),  # a number in quotes is no time either
        ({"starts_at": 1.7e9}, "starts_at"),
        ({"client_id": 42}, "client_id"),
        ({"counselor_id": True}, "counselor_id"),
        ({"session_id": 7}, "session_id"),
    ],
)
async def test_a_value_of_the_wrong_type_is_refused_not_converted(
    database_url, nats_server, tmp_path, changes, field
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        response = await svc.http.post(f"/clinics/{CLINIC}/sessions", json=schedule_body(**changes))
        assert response.status_code == 422, response.text
        assert list(errors_of(response)) == [field]
        assert await svc.count_events() == 0


async def test_the_messages_say_what_was_expected(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        url = f"/clinics/{CLINIC}/sessions"
        wrong_id = await svc.http.post(url, json=schedule_body(client_id=42))
        assert errors_of(wrong_id) == {"client_id": "must be a string"}
        wrong_time = await svc.http.post(url, json=schedule_body(starts_at=12345))
        assert "e.g. 2026-11-22T09:00:00Z" in errors_of(wrong_time)["starts_at"]
        missing = await svc.http.post(url, json={"counselor_id": "kim", "starts_at": later(1)})
        assert errors_of(missing) == {"client_id": "is required"}


@pytest.mark.parametrize("body", [b"null", b"[]", b"[1, 2]", b'"alice"', b"42", b"true"])
async def test_a_body_that_is_not_an_object_is_named_as_the_body(
    database_url, nats_server, tmp_path, body
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        response = await svc.http.post(
            f"/clinics/{CLINIC}/sessions",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert errors_of(response) == {"body": "must be a JSON object"}
        assert await svc.count_events() == 0


@pytest.mark.parametrize(
    ("where", "changes", "field"),
    [
        ("goals", {"gas_weight": "2"}, "goals.0.gas_weight"),
        ("goals", {"gas_weight": True}, "goals.0.gas_weight"),
        ("goals", {"due_date": 20000}, "goals.0.due_date"),
        ("goals", {"due_date": "0"}, "goals.0.due_date"),
        ("goals", {"review_every_days": "7"}, "goals.0.review_every_days"),
        ("goals", {"review_every_days": 7.0}, "goals.0.review_every_days"),
        ("homework", {"due_at": 1_900_000_000}, "homework.0.due_at"),
        ("homework", {"goal_index": True}, "homework.0.goal_index"),
        ("homework", {"reminder_lead_minutes": "60"}, "homework.0.reminder_lead_minutes"),
    ],
)
async def test_a_closing_plan_of_the_wrong_types_leaves_the_session_open(
    database_url, nats_server, tmp_path, where, changes, field
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        session = await svc.schedule()
        body = plan()
        body[where][0].update(changes)
        url = f"/clinics/{CLINIC}/sessions/{session['session_id']}"
        closed = await svc.http.post(f"{url}/close", json=body)
        assert closed.status_code == 422, closed.text
        assert list(errors_of(closed)) == [field]
        assert (await svc.http.get(url)).json()["status"] == "scheduled"
        assert await svc.count_events("session-closed") == 0


async def test_expected_version_must_be_a_whole_number(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        session = await svc.schedule()
        url = f"/clinics/{CLINIC}/sessions/{session['session_id']}/close"
        for version in ("1", True, 1.0):
            closed = await svc.http.post(url, json={**plan(), "expected_version": version})
            assert list(errors_of(closed)) == ["expected_version"], version
        assert await svc.count_events("session-closed") == 0


def nested(depth: int) -> bytes:
    return b'{"client_id": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("idempotency_key", [None, "deeply-nested-1"])
async def test_deeply_nested_json_is_refused_not_a_500(
    database_url, nats_server, tmp_path, idempotency_key
):
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        response = await svc.http.post(
            f"/clinics/{CLINIC}/sessions", content=nested(100_000), headers=headers
        )
        assert response.status_code in (400, 413, 422), response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "body" in errors_of(response)
        assert await svc.count_events() == 0


async def test_huge_json_is_refused_with_413(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        huge = b'{"client_id": "' + b"a" * 2_000_000 + b'"}'
        response = await svc.http.post(
            f"/clinics/{CLINIC}/sessions",
            content=huge,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert errors_of(response) == {"body": "at most 262144 bytes"}


@pytest.mark.parametrize(
    "sent",
    [
        "x" * 129,  # too long
        "has space",
        "semi;colon",
        "quote\"'",
        "ünïcode",
        "",
    ],
)
async def test_a_bad_correlation_id_is_replaced_not_copied_into_events(
    database_url, nats_server, tmp_path, sent
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        response = await svc.http.post(
            f"/clinics/{CLINIC}/sessions",
            json=schedule_body(),
            headers={"X-Correlation-Id": sent.encode()},
        )
        assert response.status_code == 201, response.text
        given = response.headers["X-Correlation-Id"]
        assert given != sent and SAFE_CORRELATION_ID.match(given)
        [metadata] = await stored_metadata(svc)
        assert metadata["correlation_id"] == given


async def test_a_good_correlation_id_is_kept(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        sent = "web:checkout.7f3a-" + "9" * 110  # 128 characters of the safe set
        response = await svc.http.post(
            f"/clinics/{CLINIC}/sessions",
            json=schedule_body(),
            headers={"X-Correlation-Id": sent},
        )
        assert response.headers["X-Correlation-Id"] == sent
        [metadata] = await stored_metadata(svc)
        assert metadata["correlation_id"] == sent


@pytest.mark.parametrize(
    "sent",
    [
        "00-" + "a" * 32 + "-" + "b" * 16 + "-01" + "x" * 5000,
        "00-" + "0" * 32 + "-" + "b" * 16 + "-01",  # an all-zero trace id is invalid
        "00-" + "a" * 32 + "-" + "0" * 16 + "-01",  # so is an all-zero parent
        "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",  # version ff is forbidden
        "00-" + "A" * 32 + "-" + "b" * 16 + "-01",  # upper case is not the format
    ],
)
async def test_a_bad_traceparent_starts_a_new_trace(database_url, nats_server, tmp_path, sent):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        response = await svc.http.post(
            f"/clinics/{CLINIC}/sessions",
            json=schedule_body(),
            headers={"traceparent": sent},
        )
        assert response.status_code == 201, response.text
        [metadata] = await stored_metadata(svc)
        assert TRACEPARENT.match(metadata["traceparent"])
        assert metadata["traceparent"].split("-")[1] not in sent.lower()


async def test_a_good_traceparent_continues_its_trace(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        response = await svc.http.post(
            f"/clinics/{CLINIC}/sessions",
            json=schedule_body(),
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
        assert response.status_code == 201, response.text
        [metadata] = await stored_metadata(svc)
        assert metadata["traceparent"].split("-")[1] == trace_id


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """The app behind a real uvicorn server (as `serve` runs it, HTTP parser chosen by uvicorn),
    the app's lifespan already entered by the caller."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, timeout=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_oversized_headers_are_refused_with_431_by_the_real_server(
    database_url, nats_server, tmp_path
):
    async with (
        running_service(database_url, nats_server.url, tmp_path) as svc,
        served(svc.app) as base_url,
        httpx.AsyncClient(base_url=base_url, auth=ClinicAdminAuth(), timeout=30) as http,
    ):
        url = f"/clinics/{CLINIC}/sessions"
        huge = {"X-Correlation-Id": "a" * 1_100_000}
        refused = await http.post(url, json=schedule_body(), headers=huge)
        assert refused.status_code == 431, refused.text
        assert errors_of(refused) == {"headers": "at most 16384 bytes in all"}
        # Many headers that are each small add up too.
        many = {f"X-Filler-{n}": "b" * 1000 for n in range(20)}
        assert (await http.post(url, json=schedule_body(), headers=many)).status_code == 431
        # A read is refused as well; nothing was written by any of them.
        assert (await http.get(f"{url}/{uuid.uuid4()}", headers=huge)).status_code == 431
        assert await svc.count_events() == 0
        accepted = await http.post(url, json=schedule_body(), headers={"X-Correlation-Id": "ok-1"})
        assert accepted.status_code == 201, accepted.text
        assert accepted.headers["X-Correlation-Id"] == "ok-1"
