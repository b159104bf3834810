"""Authentication, care-team assignment and the audit log, on the sessions service against a
real nats-server and database (SQLite, and PostgreSQL when configured)."""

import json
from datetime import UTC, datetime, timedelta

import nats
import pytest
from sessions_support import CLINIC, RunningService, later
from sqlalchemy import delete, select, text, update
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.exc import DBAPIError

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import (
    TEST_AUTH_SECRET,
    bearer,
    eventually,
    mint_test_token,
    subscriptions_in_effect,
)
from rapport_shared.persistence.schema import audit_log_table, events_table

NOTES = f"/clinics/{CLINIC}/clients/alice/notes"
AUDIT = f"/clinics/{CLINIC}/audit"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Basic a2ltOnB3"}, id="not-bearer"),
        pytest.param(bearer("not-a-jwt"), id="garbage"),
        pytest.param(
            bearer(mint_test_token(ttl=timedelta(minutes=-5))),
            id="expired",
        ),
        pytest.param(
            bearer(mint_test_token(secret=TEST_AUTH_SECRET + "-other")),
            id="other-secret",
        ),
    ],
)
async def test_calls_without_a_valid_token_are_401_problems(
    service: RunningService, headers: dict[str, str]
) -> None:
    # httpx's auth= only fills in a missing header: an explicit empty one disables it.
    response = await service.http.get(NOTES, headers=headers or {"Authorization": ""})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["title"] == "Unauthenticated"


async def test_health_metrics_and_docs_need_no_token(service: RunningService) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json", "/docs"):
        response = await service.http.get(path, headers={"Authorization": ""})
        assert response.status_code == 200, path


async def test_operations_need_an_operator(service: RunningService) -> None:
    operator = bearer(mint_test_token("operator"))
    assert (await service.http.get("/admin/status", headers=operator)).status_code == 200
    for role in ("clinic-admin", "auditor"):
        refused = await service.http.get("/admin/status", headers=bearer(mint_test_token(role)))
        assert refused.status_code == 403, role
    # ...and an operator reaches no clinical data.
    assert (await service.http.get(NOTES, headers=operator)).status_code == 404


async def test_the_token_subject_is_the_events_actor(service: RunningService) -> None:
    kim_admin = bearer(mint_test_token("clinic-admin", CLINIC, "ann"))
    body = {"client_id": "alice", "counselor_id": "kim", "starts_at": later(1)}
    created = await service.http.post(
        f"/clinics/{CLINIC}/sessions", json=body, headers={**kim_admin, "X-Actor": "mallory"}
    )
    assert created.status_code == 201, created.text
    async with service.runtime.engine.connect() as conn:
        [metadata] = (await conn.execute(select(events_table.c.metadata))).scalars()
    assert metadata["actor"] == "ann"


async def test_a_clinic_admin_assigns_the_care_team_and_it_is_published(
    service: RunningService, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    received = []

    async def collect(msg: nats.aio.msg.Msg) -> None:
        received.append(msg)

    await nc.subscribe(f"rapport.{CLINIC}.sessions.care-team-changed", cb=collect)
    await subscriptions_in_effect(nc)
    try:
        team = f"/clinics/{CLINIC}/clients/alice/care-team"
        kim = bearer(mint_test_token("counselor", CLINIC, "kim"))
        assert (
            await service.http.put(team, json={"counselor_ids": ["kim"]}, headers=kim)
        ).status_code == 403
        bad = await service.http.put(team, json={"counselor_ids": ["not ok"]})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "counselor_ids.0"

        put = await service.http.put(team, json={"counselor_ids": ["lee", "kim", "kim"]})
        assert put.status_code == 200, put.text
        assert put.json() == {"client_id": "alice", "counselor_ids": ["kim", "lee"]}
        assert (await service.http.get(team, headers=kim)).json()["counselor_ids"] == ["kim", "lee"]
        await service.http.put(team, json={"counselor_ids": []})
        assert (await service.http.get(team)).json()["counselor_ids"] == []

        await eventually(lambda: _count(received, 2))
        first = json.loads(received[0].data)
        assert first["data"]["counselor_ids"] == ["kim", "lee"]
        assert first["data"]["changed_by"] == "test-clinic-admin"
    finally:
        await nc.close()


async def _count(received: list[object], n: int) -> bool:
    return len(received) >= n


async def test_reads_writes_and_refusals_are_audited_and_can_be_paged(
    service: RunningService,
) -> None:
    kim = bearer(mint_test_token("counselor", CLINIC, "kim"))
    started = datetime.now(UTC)
    session = await service.schedule(client_id="alice")
    assert (await service.http.get(NOTES, headers=kim)).status_code == 200
    note = f"/clinics/{CLINIC}/sessions/{session['session_id']}/notes"
    refused = await service.http.post(note, json={"body": "not assigned"}, headers=kim)
    assert refused.status_code == 403

    [scheduled] = (await service.http.get(AUDIT, params={"status": 201})).json()["entries"]
    assert scheduled["resource"] == {"session_id": session["session_id"]}  # the id it created
    page = await service.http.get(AUDIT, params={"sub": "kim"})
    assert page.status_code == 200, page.text
    read, write = page.json()["entries"]
    assert read == {
        **read,
        "sub": "kim",
        "role": "counselor",
        "method": "GET",
        "route": "/clinics/{clinic_id}/clients/{client_id}/notes",
        "resource": {"client_id": "alice"},
        "client_id": "alice",
        "client_address": "127.0.0.1",
        "status": 200,
        "target_clinic_id": CLINIC,
    }
    assert datetime.fromisoformat(read["at"]) >= started - timedelta(seconds=1)
    assert (write["method"], write["status"], write["client_id"]) == ("POST", 403, "alice")
    assert write["resource"] == {"session_id": session["session_id"]}

    # Filters and pages: by client and status, `limit` at a time, following next_after.
    only_refusals = await service.http.get(AUDIT, params={"status": 403})
    assert [e["sub"] for e in only_refusals.json()["entries"]] == ["kim"]
    seen: list[int] = []
    after = 0
    while True:
        batch = (await service.http.get(AUDIT, params={"limit": 2, "after": after})).json()
        seen += [entry["id"] for entry in batch["entries"]]
        if batch["next_after"] is None:
            break
        after = batch["next_after"]
    assert seen == sorted(set(seen)) and len(seen) >= 4  # schedule, read, refusal, 1st page
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await service.http.get(AUDIT, params={"since": future})).json()["entries"] == []
    bad = await service.http.get(AUDIT, params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"
    # Past the database's integers (found by the fuzzer: it was a 500).
    huge = await service.http.get(AUDIT, params={"after": 2**63})
    assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "after"


async def test_the_audit_log_cannot_be_changed_or_emptied(service: RunningService) -> None:
    await service.http.get(NOTES)
    engine = service.runtime.engine
    statements = [update(audit_log_table).values(status=200), delete(audit_log_table)]
    if engine.dialect.name == "postgresql":
        statements.append(text("TRUNCATE audit_log"))
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(statement)
    async with engine.connect() as conn:
        assert len((await conn.execute(select(audit_log_table))).all()) >= 1
    # No route edits or deletes it either.
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert (await service.http.request(method, AUDIT)).status_code == 405


async def test_a_session_scheduled_here_is_authorized_without_reading_its_owner(
    service: RunningService,
) -> None:
    created = await service.schedule(client_id="alice")
    owner_reads: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "version = 1" in statement:  # access.stream_owner's query
            owner_reads.append(statement)

    engine = service.runtime.engine.sync_engine
    sqlalchemy_event.listen(engine, "before_cursor_execute", seen)
    try:
        session = f"/sessions/{created['session_id']}"
        started = await service.http.post(f"/clinics/{CLINIC}{session}/start")
        assert started.status_code == 200, started.text
        # The remembered owner still decides: in another clinic the session is not there.
        elsewhere = await service.http.post(f"/clinics/southside{session}/start")
        assert elsewhere.status_code == 404, elsewhere.text
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", seen)
    assert owner_reads == []
