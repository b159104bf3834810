"""Helpers for the suite's tests: polling with a deadline instead of sleeping, per-test
databases (a SQLite file, or a fresh PostgreSQL database on the server under test), and bearer
tokens signed with the secret the tests give the services."""

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx
from nats.aio.client import Client as NATS
from sqlalchemy.engine import URL, make_url

from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.clinic import is_clinic_slug
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.security.auth import ALL_CLINICS, mint_token

T = TypeVar("T")

# The HS256 secret the tests configure the services with (RAPPORT_AUTH_SECRET / auth_secret).
TEST_AUTH_SECRET = "rapport-tests-only-hs256-secret-0123456789abcdef-0123456789abcdef"


def mint_test_token(
    role: str = "clinic-admin",
    clinic: str = "northside",
    sub: str | None = None,
    *,
    secret: str = TEST_AUTH_SECRET,
    ttl: timedelta = timedelta(hours=1),
) -> str:
    """A token for a test caller; operators get the all-clinics wildcard."""
    clinic = ALL_CLINICS if role == "operator" else clinic
    return mint_token(secret, sub=sub or f"test-{role}", clinic=clinic, role=role, ttl=ttl)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_for(path: str) -> tuple[str, str]:
    """(role, clinic) of the caller a test or load generator acts as on `path`: the clinic
    admin of the clinic the path names, or an operator (all clinics) on anything else."""
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "clinics":
        return "clinic-admin", parts[2] if is_clinic_slug(parts[2]) else "northside"
    return "operator", ALL_CLINICS


class ClinicAdminAuth(httpx.Auth):
    """The test clients' default caller: a clinic admin of whichever clinic the path names (an
    operator on /admin). A request that brings its own Authorization header keeps it."""

    def __init__(self, secret: str = TEST_AUTH_SECRET) -> None:
        self.secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "Authorization" not in request.headers:
            role, clinic = admin_for(request.url.path)
            token = mint_test_token(role, clinic, secret=self.secret)
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


async def subscriptions_in_effect(nc: NATS) -> None:
    """Return once the server has every SUB this client sent before the call, so a message
    another connection publishes afterwards is delivered to them.

    One flush() is not enough with nats-py 2.16: it writes its PING straight to the socket, ahead
    of commands still waiting for the client's flusher task (a SUB just made among them). The
    PONG can then come back before the server has read the SUB, and a message published from
    another connection meanwhile is never delivered (test_tenant_permissions saw the first of
    three missing, the client having received two). The first flush lets the flusher write what
    was waiting; the second PING goes out after it."""
    await nc.flush()
    await nc.flush()


async def always_ready() -> tuple[bool, dict[str, str]]:
    """A readiness for an app made of the HTTP plumbing alone."""
    return True, {}


async def serving(http: httpx.AsyncClient) -> bool:
    """Ready and started on the broker: what a test waits for before driving a service (/readyz
    answers 200 before the service has connected to the broker, whose state it reports)."""
    response = await http.get("/readyz")
    return response.status_code == 200 and response.json().get("broker") == "connected"


async def eventually(
    probe: Callable[[], Awaitable[T] | T], timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll probe until it returns a truthy value; fail with the last value at the deadline.
    probe may be a coroutine function (a query) or a plain one (a condition on local state)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        answer = probe()
        last = await answer if inspect.isawaitable(answer) else answer
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def create_postgres_database(server_url: str) -> str:
    """Create an empty database beside server_url's and return its SQLAlchemy asyncpg URL."""
    import asyncpg

    url = make_url(server_url)
    name = f"rapport_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )


async def drop_postgres_database(database_url: str) -> None:
    import asyncpg

    url = make_url(database_url)
    conn = await asyncpg.connect(_asyncpg_dsn(url.set(database="postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await conn.close()


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class SmtpCollector:
    """A real SMTP server (aiosmtpd) on a free port that keeps every message it is sent."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from rapport_devtools.natsserver import free_port

        self.messages: list[tuple[list[str], bytes]] = []
        self.port = free_port()
        # aiosmtpd logs every connection at INFO; a test process keeps library INFO lines (the
        # services' logging), which would print them in the middle of a test run's output.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[bytes]:
        return [content for recipients, content in self.messages if address in recipients]

    def start(self) -> "SmtpCollector":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def incoming(event: EventContract, traceparent: str | None = None) -> IncomingEvent:
    """event as a consumer's handler receives it off the bus, with a fresh event id."""
    return IncomingEvent(
        event_id=str(uuid.uuid4()),
        event_type=event.event_type,
        schema_version=event.schema_version,
        source=f"/rapport/{event.service}/{event.clinic_id}",
        subject="",
        time=datetime.now(UTC).isoformat(),
        correlation_id=None,
        causation_id=None,
        traceparent=traceparent,
        contract=event,
    )
