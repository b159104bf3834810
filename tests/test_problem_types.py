"""Each kind of problem has its own RFC 9457 type, with a fixed title and status, and
docs/api.md lists every one the code can answer with.

The kinds are taken from the code (rapport_shared.web.problems.known_kinds: the HTTP plumbing's
and every DomainError subclass of the shared library and the services), so a new kind fails here
until it is answered with and documented.
"""

import contextlib
import importlib
import pkgutil
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import MetaData

import rapport_goals
import rapport_notifications
import rapport_sessions
import rapport_shared
from rapport_shared.contracts.errors import PROBLEM_TYPES, DomainError
from rapport_shared.eventsourcing import crypto
from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict
from rapport_shared.persistence.db import create_engine
from rapport_shared.security.access import unauthenticated_response
from rapport_shared.web import problems
from rapport_shared.web.http import install_http_plumbing
from rapport_shared.web.idempotency.authorization import authorized
from rapport_shared.web.idempotency.keys import fingerprint
from rapport_shared.web.idempotency.middleware import IdempotencyMiddleware
from rapport_shared.web.idempotency.store import IdempotencyStore, forget_client
from rapport_shared.web.idempotency.table import add_idempotency_table
from rapport_shared.web.openapi_errors import problem_schema
from rapport_shared.web.request_limits import RequestLimits

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"
LIMIT = 1024
# A documented row: | `type` | title | status | when |
_ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+?) \| (\d{3}) \|", re.MULTILINE)


def _import_everything() -> None:
    """Every module of the library and the services, so every DomainError subclass is known.
    Migrations are left out: their env modules run alembic when imported."""
    for package in (rapport_shared, rapport_sessions, rapport_goals, rapport_notifications):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" not in module.name and not module.name.endswith("__main__"):
                importlib.import_module(module.name)


def _all_kinds() -> list[problems.ProblemType]:
    _import_everything()
    return problems.known_kinds()


def test_each_type_has_one_title_and_one_status():
    _import_everything()
    seen: dict[str, problems.ProblemType] = {}
    for kind in [*problems.domain_kinds(), *problems.HTTP_KINDS]:
        assert kind.uri.startswith(PROBLEM_TYPES), kind
        assert seen.setdefault(kind.uri, kind) == kind, f"{kind.uri} means two things"


def test_the_documentation_lists_every_type_the_code_can_answer_with():
    documented = {
        (uri, title, int(status))
        for uri, title, status in _ROW.findall(DOCS.read_text())
        if uri != problems.PLAIN_STATUS
    }
    in_code = {(kind.uri, kind.title, kind.status) for kind in _all_kinds()}
    assert in_code - documented == set(), "answered but not in docs/api.md"
    assert documented - in_code == set(), "in docs/api.md but answered by nothing"


def test_the_openapi_problem_schema_names_every_type():
    examples = problem_schema()["properties"]["type"]["examples"]
    assert set(examples) == {kind.uri for kind in _all_kinds()} | {problems.PLAIN_STATUS}


class Thing(BaseModel):
    count: int


def _raised(uri: str) -> type[DomainError]:
    """A DomainError class of that type (the first the walk meets)."""
    return next(c for c in _domain_classes() if c.problem_type == uri)


def _domain_classes() -> list[type[DomainError]]:
    classes, found = [DomainError], []
    while classes:
        error = classes.pop(0)
        found.append(error)
        classes.extend(error.__subclasses__())
    return found


@contextlib.asynccontextmanager
async def _app(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, IdempotencyStore]]:
    engine = create_engine(database_url)
    metadata = MetaData()
    add_idempotency_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.run_sync(crypto.metadata.create_all)
    store = IdempotencyStore(engine, retention=timedelta(hours=1), lease=timedelta(minutes=1))
    app = FastAPI()
    app.add_middleware(IdempotencyMiddleware, store=store, max_body_bytes=LIMIT)
    app.add_middleware(RequestLimits, max_body_bytes=LIMIT)

    async def authenticate(request: Request) -> object:
        if "X-No-Token" in request.headers:
            return unauthenticated_response("send a bearer token")
        return None

    async def not_ready() -> tuple[bool, dict[str, str]]:
        return False, {}

    install_http_plumbing(app, not_ready, authenticate=authenticate, max_header_bytes=LIMIT)

    async def names_the_client(request: Request) -> None:
        authorized(request, "client-1")

    @app.post("/clinics/{clinic_id}/things", dependencies=[Depends(names_the_client)])
    async def make(clinic_id: str, thing: Thing) -> dict[str, int]:
        return {"count": thing.count}

    @app.post("/refusals")
    async def refuse(kind: str) -> None:
        error_class = _raised(kind)
        error = error_class.__new__(error_class)  # some take more than a detail
        DomainError.__init__(error, "refused", field="count")
        raise error

    @app.post("/conflicts")
    async def conflict() -> None:
        raise ConcurrencyConflict("stream-1", 3)

    @app.post("/faults")
    async def fault() -> None:
        raise RuntimeError("broken")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, store
    finally:
        await engine.dispose()


async def _answers(http: httpx.AsyncClient, store: IdempotencyStore) -> list[httpx.Response]:
    """One request for each kind the HTTP edge can answer with."""
    things = "/clinics/a/things"
    json_type = {"Content-Type": "application/json"}
    answers = [
        await http.post(things, json={"count": "three"}),
        await http.post(things, content=b"[]", headers=json_type),
        await http.post(things, content=b'{"count": "\xff"}', headers=json_type),
        await http.post(things, content=b"x" * (LIMIT + 1), headers=json_type),
        await http.post(things, content=b"count=3", headers={"Content-Type": "text/plain"}),
        await http.get("/healthz", headers={"X-Padding": "x" * LIMIT}),
        await http.get("/healthz", headers={"X-No-Token": "1"}),
        await http.get("/readyz"),
        await http.post("/conflicts"),
        await http.post("/faults"),
        await http.post(things, json={"count": 1}, headers={"Idempotency-Key": "bad key"}),
    ]
    for domain_class in _domain_classes():
        answers.append(await http.post("/refusals", params={"kind": domain_class.problem_type}))
    await http.post(things, json={"count": 1}, headers={"Idempotency-Key": "k-1"})
    answers.append(await http.post(things, json={"count": 2}, headers={"Idempotency-Key": "k-1"}))
    running = fingerprint("POST", things, b"", b'{"count": 3}')
    await store.claim("a", "", "k-2", running)
    answers.append(await http.post(things, json={"count": 3}, headers={"Idempotency-Key": "k-2"}))
    async with store.engine.begin() as conn:
        await forget_client(conn, "a", "client-1")
    answers.append(await http.post(things, json={"count": 1}, headers={"Idempotency-Key": "k-1"}))
    return answers


async def test_every_kind_is_answered_with_its_type_title_and_status(database_url):
    kinds = {kind.uri: kind for kind in _all_kinds()}
    async with _app(database_url) as (http, store):
        answers = await _answers(http, store)
        answered = set()
        for answer in answers:
            body = answer.json()
            assert answer.headers["content-type"] == problems.PROBLEM
            kind = kinds[body["type"]]
            assert (body["title"], body["status"], answer.status_code) == (
                kind.title,
                kind.status,
                kind.status,
            ), body
            answered.add(kind.uri)
        assert answered == set(kinds), "kinds no request here answers with"


@pytest.mark.parametrize(
    ("method", "path", "status", "title"),
    [("GET", "/nowhere", 404, "Not Found"), ("DELETE", "/conflicts", 405, "Method Not Allowed")],
)
async def test_a_plain_http_status_is_about_blank(database_url, method, path, status, title):
    async with _app(database_url) as (http, _):
        answer = await http.request(method, path)
        body = answer.json()
        assert (answer.status_code, body["type"], body["title"], body["status"]) == (
            status,
            problems.PLAIN_STATUS,
            title,
            status,
        )
