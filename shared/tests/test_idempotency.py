"""The Idempotency-Key middleware and its store on a real database (SQLite and PostgreSQL).

The app here is a small FastAPI app whose one command can be made to fail or to wait, which the
real services cannot be made to do on demand; the services' own tests cover replays end to end.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import MetaData, func, select

from rapport_devtools.testing import always_ready, eventually
from rapport_shared.eventsourcing import crypto
from rapport_shared.persistence.db import create_engine
from rapport_shared.security.access import Forbidden
from rapport_shared.web.http import install_http_plumbing
from rapport_shared.web.idempotency.authorization import authorized
from rapport_shared.web.idempotency.keys import fingerprint
from rapport_shared.web.idempotency.middleware import IdempotencyMiddleware
from rapport_shared.web.idempotency.sealing import SERVICE_KEY_OWNER
from rapport_shared.web.idempotency.store import IdempotencyStore, forget_client
from rapport_shared.web.idempotency.table import add_idempotency_table, idempotency_keys
from rapport_shared.web.request_limits import RequestLimits

LIMIT = 4096


@dataclass(frozen=True)
class Principal:
    subject: str
    clinic: str
    role: str


class PlaysAuthentication:
    """Stands in for the authentication middleware: a verified principal in the request state,
    here simply taken from the X-Test-Subject and X-Test-Role headers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        subject = headers.get(b"x-test-subject")
        if scope["type"] == "http" and subject:
            role = headers.get(b"x-test-role", b"counselor").decode()
            scope.setdefault("state", {})["principal"] = Principal(subject.decode(), "a", role)
        await self.app(scope, receive, send)


class Order(BaseModel):
    item: str


@dataclass
class Kitchen:
    """The command's side effects, and switches to make it fail or hold."""

    cooked: list[str] = field(default_factory=list)
    fail_next: bool = False
    gate: asyncio.Event | None = None
    # Subjects the route's authorization now refuses (e.g. taken off the client's care team).
    refused: set[str] = field(default_factory=set)


@dataclass
class Harness:
    http: httpx.AsyncClient
    kitchen: Kitchen
    store: IdempotencyStore

    async def keys(self) -> int:
        async with self.store.engine.connect() as conn:
            query = select(func.count()).select_from(idempotency_keys)
            return int((await conn.execute(query)).scalar_one())

    async def stored(self) -> list[tuple[str | None, bytes | None]]:
        """(client, body) of each stored answer, as the database holds them."""
        async with self.store.engine.connect() as conn:
            query = select(idempotency_keys.c.client_id, idempotency_keys.c.body)
            return [(row.client_id, row.body) for row in await conn.execute(query)]


@contextlib.asynccontextmanager
async def harness(database_url: str) -> AsyncIterator[Harness]:
    engine = create_engine(database_url)
    metadata = MetaData()
    add_idempotency_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.run_sync(crypto.metadata.create_all)
    store = IdempotencyStore(engine, retention=timedelta(hours=24), lease=timedelta(seconds=60))
    kitchen = Kitchen()
    app = FastAPI()
    app.add_middleware(IdempotencyMiddleware, store=store, max_body_bytes=LIMIT)
    app.add_middleware(RequestLimits, max_body_bytes=LIMIT)
    app.add_middleware(PlaysAuthentication)
    install_http_plumbing(app, always_ready)

    async def plays_authorization(request: Request) -> None:
        """As rapport_shared.security.access.authorize ends: refuse, or name the client and go
        on."""
        subject = request.headers.get("X-Test-Subject", "")
        if subject in kitchen.refused:
            raise Forbidden(f"{subject} may not order here")
        authorized(request, request.headers.get("X-Test-Client"))

    @app.post(
        "/clinics/{clinic_id}/orders",
        status_code=201,
        dependencies=[Depends(plays_authorization)],
    )
    async def order(clinic_id: str, body: Order) -> dict[str, object]:
        if kitchen.gate is not None:
            await kitchen.gate.wait()
        if kitchen.fail_next:
            kitchen.fail_next = False
            raise RuntimeError("the oven broke")
        kitchen.cooked.append(body.item)
        return {"clinic": clinic_id, "item": body.item, "number": len(kitchen.cooked)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Harness(http, kitchen, store)
    finally:
        await engine.dispose()


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_replay_returns_the_first_response_and_runs_nothing_again(database_url):
    async with harness(database_url) as h:
        first = await h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        # Same JSON value, other key order and spacing: still the same request.
        again = await h.http.post(
            "/clinics/a/orders",
            content=b'{ "item" :  "soup" }',
            headers={**key("k-1"), "Content-Type": "application/json"},
        )
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() == {"clinic": "a", "item": "soup", "number": 1}
        assert again.headers["content-type"] == first.headers["content-type"]
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert h.kitchen.cooked == ["soup"]


async def test_a_key_reused_for_another_request_is_refused(database_url):
    async with harness(database_url) as h:
        await h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        other = await h.http.post("/clinics/a/orders", json={"item": "stew"}, headers=key("k-1"))
        assert other.status_code == 422
        assert other.headers["content-type"] == "application/problem+json"
        assert other.json()["errors"][0]["field"] == "Idempotency-Key"
        assert h.kitchen.cooked == ["soup"]


async def test_keys_are_scoped_by_clinic(database_url):
    async with harness(database_url) as h:
        a = await h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        b = await h.http.post("/clinics/b/orders", json={"item": "soup"}, headers=key("k-1"))
        assert (a.status_code, b.status_code) == (201, 201)
        assert b.json()["clinic"] == "b"
        assert h.kitchen.cooked == ["soup", "soup"]


async def test_keys_are_scoped_by_caller(database_url):
    async with harness(database_url) as h:
        order = {"item": "soup"}
        url = "/clinics/a/orders"
        kim = await h.http.post(url, json=order, headers={**key("k"), "X-Test-Subject": "kim"})
        ana = await h.http.post(url, json=order, headers={**key("k"), "X-Test-Subject": "ana"})
        again = await h.http.post(url, json=order, headers={**key("k"), "X-Test-Subject": "kim"})
        assert "Idempotent-Replayed" not in ana.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == kim.json() != ana.json()
        assert h.kitchen.cooked == ["soup", "soup"]


async def test_without_a_principal_only_the_same_credentials_get_a_replay(database_url):
    async with harness(database_url) as h:
        order = {"item": "soup"}
        url = "/clinics/a/orders"
        mine = {**key("k"), "Authorization": "Bearer mine"}
        first = await h.http.post(url, json=order, headers=mine)
        stranger = await h.http.post(url, json=order, headers=key("k"))
        assert "Idempotent-Replayed" not in stranger.headers
        again = await h.http.post(url, json=order, headers=mine)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert h.kitchen.cooked == ["soup", "soup"]


async def test_a_failed_request_does_not_pin_its_key(database_url):
    async with harness(database_url) as h:
        h.kitchen.fail_next = True
        failed = await h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        assert failed.status_code == 500
        assert await h.keys() == 0
        retried = await h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        assert retried.status_code == 201
        assert "Idempotent-Replayed" not in retried.headers
        assert h.kitchen.cooked == ["soup"]


async def test_a_client_error_is_kept_and_replayed(database_url):
    async with harness(database_url) as h:
        bad = await h.http.post("/clinics/a/orders", json={"dish": "soup"}, headers=key("k-1"))
        again = await h.http.post("/clinics/a/orders", json={"dish": "soup"}, headers=key("k-1"))
        assert bad.status_code == again.status_code == 422
        assert again.json() == bad.json()
        assert again.headers["content-type"] == "application/problem+json"
        assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_key_still_in_flight_answers_409(database_url):
    async with harness(database_url) as h:
        h.kitchen.gate = asyncio.Event()
        slow = asyncio.create_task(
            h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        )
        await eventually(h.keys)  # the first request has claimed its key
        busy = await h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        assert busy.status_code == 409
        assert busy.json()["errors"][0]["field"] == "Idempotency-Key"
        assert busy.headers["Retry-After"] == "1"
        h.kitchen.gate.set()
        assert (await slow).status_code == 201
        replay = await h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        assert replay.json()["number"] == 1
        assert h.kitchen.cooked == ["soup"]


@pytest.mark.parametrize(
    "bad_key", ["", "x" * 129, "has space", "semi;colon", 'quote"d', "caf\u00e9"]
)
async def test_malformed_keys_are_refused_before_anything_runs(database_url, bad_key):
    async with harness(database_url) as h:
        response = await h.http.post(
            "/clinics/a/orders",
            json={"item": "soup"},
            headers={"Idempotency-Key": bad_key.encode("latin-1")},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "Idempotency-Key"
        assert h.kitchen.cooked == []
        assert await h.keys() == 0


async def test_a_key_of_the_longest_allowed_form_works(database_url):
    async with harness(database_url) as h:
        longest = "aZ0._:+/=-" * 12 + "abcdefgh"
        assert len(longest) == 128
        response = await h.http.post("/clinics/a/orders", json={"item": "x"}, headers=key(longest))
        assert response.status_code == 201


async def test_expired_keys_are_purged_and_can_be_used_afresh(database_url):
    async with harness(database_url) as h:
        await h.http.post("/clinics/a/orders", json={"item": "soup"}, headers=key("k-1"))
        assert await h.store.purge_expired() == 0
        assert await h.store.purge_expired(datetime.now(UTC) + timedelta(hours=25)) == 1
        assert await h.keys() == 0
        again = await h.http.post("/clinics/a/orders", json={"item": "stew"}, headers=key("k-1"))
        assert again.status_code == 201
        assert h.kitchen.cooked == ["soup", "stew"]


async def test_bodies_over_the_limit_are_refused_while_reading(database_url):
    async with harness(database_url) as h:
        chunks_read = 0

        async def endless():
            nonlocal chunks_read
            while chunks_read < 10_000:  # 10 MB if nothing stopped it
                chunks_read += 1
                yield b"x" * 1024

        # Streamed without a Content-Length: only reading can tell it is too big.
        response = await h.http.post(
            "/clinics/a/orders",
            content=endless(),
            headers={**key("k-1"), "Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["errors"] == [{"field": "body", "message": f"at most {LIMIT} bytes"}]
        assert chunks_read <= LIMIT // 1024 + 2
        assert await h.keys() == 0


def test_fingerprint_tells_requests_apart():
    base = fingerprint("POST", "/clinics/a/orders", b"", b'{"a": 1, "b": 2}')
    assert base == fingerprint("POST", "/clinics/a/orders", b"", b'{"b":2,"a":1}')
    assert base != fingerprint("POST", "/clinics/a/orders", b"", b'{"a": 1, "b": 3}')
    assert base != fingerprint("POST", "/clinics/a/other", b"", b'{"a": 1, "b": 2}')
    assert base != fingerprint("PATCH", "/clinics/a/orders", b"", b'{"a": 1, "b": 2}')
    assert base != fingerprint("POST", "/clinics/a/orders", b"x=1", b'{"a": 1, "b": 2}')


async def test_keys_are_scoped_by_role(database_url):
    """One subject with tokens of two roles: what the counselor was answered is not replayed to
    the auditor (who could not have made the request)."""
    async with harness(database_url) as h:
        order, url = {"item": "soup"}, "/clinics/a/orders"
        counselor = {**key("k"), "X-Test-Subject": "kim", "X-Test-Role": "counselor"}
        auditor = {**key("k"), "X-Test-Subject": "kim", "X-Test-Role": "auditor"}
        first = await h.http.post(url, json=order, headers=counselor)
        other_role = await h.http.post(url, json=order, headers=auditor)
        assert first.status_code == 201
        assert "Idempotent-Replayed" not in other_role.headers
        assert other_role.json()["number"] == 2


async def test_a_replay_comes_only_after_the_routes_authorization(database_url):
    async with harness(database_url) as h:
        order, url = {"item": "soup"}, "/clinics/a/orders"
        kim = {**key("k"), "X-Test-Subject": "kim", "X-Test-Client": "ana"}
        first = await h.http.post(url, json=order, headers=kim)
        assert first.status_code == 201
        h.kitchen.refused.add("kim")  # e.g. taken off the client's care team since
        refused = await h.http.post(url, json=order, headers=kim)
        assert refused.status_code == 403, refused.text
        assert "Idempotent-Replayed" not in refused.headers
        assert "soup" not in refused.text
        h.kitchen.refused.clear()
        again = await h.http.post(url, json=order, headers=kim)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert h.kitchen.cooked == ["soup"]


async def test_stored_answers_rest_sealed_under_the_clients_key_or_the_services(database_url):
    async with harness(database_url) as h:
        url = "/clinics/a/orders"
        words = "soup-of-the-clients-own-words"
        about_ana = {**key("k-1"), "X-Test-Subject": "kim", "X-Test-Client": "ana"}
        about_nobody = {**key("k-2"), "X-Test-Subject": "kim"}
        await h.http.post(url, json={"item": words}, headers=about_ana)
        await h.http.post(url, json={"item": words}, headers=about_nobody)
        stored = sorted(await h.stored(), key=lambda row: row[0] or "")
        assert [client for client, _ in stored] == [None, "ana"]
        assert all(body and words.encode() not in body for _, body in stored)
        async with h.store.engine.connect() as conn:
            ana_key = await crypto.KeyRing().key(conn, "a", "ana")
            service_key = await crypto.KeyRing().key(conn, *SERVICE_KEY_OWNER)
        assert ana_key is not None and service_key is not None and ana_key != service_key
        replay = await h.http.post(url, json={"item": words}, headers=about_ana)
        assert replay.json()["item"] == words


@pytest.mark.parametrize("erasure", ["key destroyed", "answers forgotten"])
async def test_after_erasure_a_replay_answers_410_and_runs_nothing(database_url, erasure):
    async with harness(database_url) as h:
        url, words = "/clinics/a/orders", "soup-ana-told-us-about"
        about_ana = {**key("k-1"), "X-Test-Subject": "kim", "X-Test-Client": "ana"}
        about_ben = {**key("k-2"), "X-Test-Subject": "kim", "X-Test-Client": "ben"}
        await h.http.post(url, json={"item": words}, headers=about_ana)
        bens = await h.http.post(url, json={"item": "ben's"}, headers=about_ben)
        async with h.store.engine.begin() as conn:
            if erasure == "key destroyed":
                await crypto.KeyRing().destroy(conn, "a", "ana", datetime.now(UTC))
            else:
                await forget_client(conn, "a", "ana")
        gone = await h.http.post(url, json={"item": words}, headers=about_ana)
        assert gone.status_code == 410, gone.text
        assert gone.json()["errors"][0]["field"] == "Idempotency-Key"
        assert gone.headers["Idempotent-Replayed"] == "true"
        assert words not in gone.text
        assert h.kitchen.cooked == [words, "ben's"]  # not cooked again
        # Another client's answers are untouched.
        assert (await h.http.post(url, json={"item": "ben's"}, headers=about_ben)).json() == (
            bens.json()
        )


async def test_deeply_nested_json_gets_the_same_answer_with_a_key_as_without(database_url):
    async with harness(database_url) as h:
        nested = b"[" * 2000 + b"]" * 2000  # deeper than Python's parser recurses, under LIMIT
        headers = {"Content-Type": "application/json"}
        plain = await h.http.post("/clinics/a/orders", content=nested, headers=headers)
        keyed = await h.http.post(
            "/clinics/a/orders", content=nested, headers={**headers, **key("deep")}
        )
        assert plain.status_code < 500, plain.text
        assert keyed.status_code == plain.status_code, keyed.text
        assert h.kitchen.cooked == []


def test_fingerprint_takes_json_too_deep_to_parse_as_bytes():
    """The request's own validation answers such a body (4xx); the fingerprint must not be
    what breaks on it (a 500 only when the request carried a key)."""
    deep = b"[" * 5000 + b"]" * 5000
    assert fingerprint("POST", "/clinics/a/orders", b"", deep) != fingerprint(
        "POST", "/clinics/a/orders", b"", deep + b" "
    )
