"""What a caller can learn beyond what they may see, against the three services running as
processes (real nats-server, SQLite): whether another client's id exists, and what the audit log
records of who asked and from where.

The world: in northside, clients alice and bob; bob has a session, a goal and homework. alice
probes every route addressed by an id (the list comes from each service's OpenAPI document, so
a new route is covered the day it is added) with bob's ids and with ids nobody has.

The tests share one running suite (shared_suite) with other modules' tests: each names its
callers and clients afresh (_fresh), so the audit entries each reads are its own.
"""

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from suite_env import suite_env

from rapport_devtools.localsuite import ServiceProcess
from rapport_devtools.natsserver import NatsServer, free_port
from rapport_devtools.testing import ClinicAdminAuth, SmtpCollector, bearer, mint_test_token
from rapport_goals.domain.risk import flag_id as risk_flag_id

pytestmark = pytest.mark.e2e

CLINIC = "northside"
CORRELATION = "X-Correlation-Id"
_PARAM = re.compile(r"\{(\w+)\}")


def _fresh(name: str) -> str:
    """A person's id (a slug) no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def _bobs_ids(urls: dict[str, str], http: httpx.AsyncClient) -> dict[str, str]:
    """bob's session, goal and homework (made by the clinic admin), by path parameter."""
    bob = _fresh("bob")
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    session = await http.post(
        f"{urls['sessions']}/clinics/{CLINIC}/sessions",
        json={"client_id": bob, "counselor_id": "lee", "starts_at": later},
    )
    goal = await http.post(
        f"{urls['goals']}/clinics/{CLINIC}/goals",
        json={
            "client_id": bob,
            "counselor_id": "lee",
            "description": "walk daily",
            "measure": "walks",
            "target": "7 a week",
            "due_date": str(date.today() + timedelta(days=30)),
        },
    )
    homework = await http.post(
        f"{urls['goals']}/clinics/{CLINIC}/homework",
        json={"client_id": bob, "counselor_id": "lee", "instructions": "log", "due_at": later},
    )
    # A PHQ-9 with item 9 answered raises a risk flag, its id derived from the measure's.
    measure_id = str(uuid.uuid4())
    measure = await http.post(
        f"{urls['goals']}/clinics/{CLINIC}/clients/bob/measures",
        json={"measure_id": measure_id, "instrument": "PHQ-9", "items": [0] * 8 + [1]},
    )
    for made in (session, goal, homework, measure):
        assert made.status_code == 201, made.text
    return {
        "session_id": session.json()["session_id"],
        "goal_id": goal.json()["goal_id"],
        "homework_id": homework.json()["homework_id"],
        "flag_id": str(risk_flag_id(uuid.UUID(measure_id), 9)),
        "client_id": bob,
        "recipient_id": bob,
    }


def _nobodys(param: str) -> str:
    # Resource ids are UUIDs; people's ids are slugs.
    return _fresh("nobody") if param in {"client_id", "recipient_id"} else str(uuid.uuid4())


async def _addressed_routes(url: str, http: httpx.AsyncClient) -> list[tuple[str, str]]:
    """(method, path template) of every /clinics/ route with an id in its path."""
    paths = (await http.get(f"{url}/openapi.json")).json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/clinics/{clinic_id}/") and set(_PARAM.findall(path)) - {"clinic_id"}
        for method in operations
    ]


async def test_a_client_cannot_tell_another_clients_ids_from_ids_nobody_has(
    shared_suite: dict[str, ServiceProcess],
) -> None:
    urls = {name: process.url for name, process in shared_suite.items()}
    alice = bearer(mint_test_token("client", CLINIC, _fresh("alice")))
    async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=15) as http:
        bobs = await _bobs_ids(urls, http)
        probed: set[str] = set()
        for service, url in urls.items():
            for method, template in await _addressed_routes(url, http):
                params = set(_PARAM.findall(template)) - {"clinic_id"}
                unknown = params - bobs.keys()
                assert not unknown, f"{template}: say whose {unknown} bob has, to probe it"
                answers = []
                for ids in (bobs, {p: _nobodys(p) for p in params}):
                    path = template.replace("{clinic_id}", CLINIC)
                    for param in params:
                        path = path.replace(f"{{{param}}}", ids[param])
                    body = None if method in {"GET", "DELETE"} else {}
                    answers.append(
                        await http.request(method, f"{url}{path}", json=body, headers=alice)
                    )
                theirs, nobodys = answers
                route = f"{service} {method} {template}"
                assert theirs.status_code == nobodys.status_code == 404, (
                    f"{route}: {theirs.status_code} {theirs.text} / {nobodys.status_code}"
                )
                assert theirs.content == nobodys.content, (
                    f"{route} tells bob's id from nobody's: {theirs.text} / {nobodys.text}"
                )
                assert theirs.headers["content-type"] == nobodys.headers["content-type"]
                probed |= params
        # Not vacuous: every kind of id a client could probe was probed.
        assert probed >= {"session_id", "goal_id", "homework_id", "client_id", "recipient_id"}


async def test_an_operators_request_is_audited_under_the_clinic_it_targeted(
    shared_suite: dict[str, ServiceProcess],
) -> None:
    olu = _fresh("operator-olu")
    operator = bearer(mint_test_token("operator", sub=olu))
    auditor = bearer(mint_test_token("auditor", CLINIC, "auditor-ada"))
    async with httpx.AsyncClient(timeout=15) as http:
        for service, path in (
            ("sessions", "/clients/alice/notes"),
            ("goals", "/clients/alice/progress"),
            ("notifications", "/recipients/alice/reminders"),
        ):
            url = shared_suite[service].url
            probe = await http.get(f"{url}/clinics/{CLINIC}{path}", headers=operator)
            assert probe.status_code == 404, probe.text
            page = await http.get(
                f"{url}/clinics/{CLINIC}/audit", params={"sub": olu}, headers=auditor
            )
            assert page.status_code == 200, page.text
            [entry] = page.json()["entries"]
            assert (entry["role"], entry["status"], entry["target_clinic_id"]) == (
                "operator",
                404,
                CLINIC,
            ), service
            # The id the response carried, so the entry can be found from a log line and back.
            assert entry["correlation_id"] == probe.headers[CORRELATION], service


async def test_the_audit_returns_each_entrys_correlation_id(
    shared_suite: dict[str, ServiceProcess],
) -> None:
    alice_id = _fresh("alice")
    alice = bearer(mint_test_token("client", CLINIC, alice_id))
    auditor = bearer(mint_test_token("auditor", CLINIC, "auditor-ada"))
    url = shared_suite["goals"].url
    async with httpx.AsyncClient(timeout=15) as http:
        chosen = f"trace-{uuid.uuid4().hex[:8]}"
        asked = await http.get(
            f"{url}/clinics/{CLINIC}/clients/{alice_id}/homework",
            headers={**alice, CORRELATION: chosen},
        )
        assert asked.status_code == 200, asked.text
        page = await http.get(
            f"{url}/clinics/{CLINIC}/audit", params={"sub": alice_id}, headers=auditor
        )
        [entry] = page.json()["entries"]
        assert entry["correlation_id"] == asked.headers[CORRELATION]


async def _audited_address(url: str, headers: dict[str, str]) -> str | None:
    """Send a client's request with headers; the client address its audit entry records."""
    sub = _fresh("client")
    caller = bearer(mint_test_token("client", CLINIC, sub))
    auditor = bearer(mint_test_token("auditor", CLINIC, "auditor-ada"))
    async with httpx.AsyncClient(timeout=15) as http:
        await http.get(f"{url}/clinics/{CLINIC}/clients/{sub}/notes", headers=headers | caller)
        page = await http.get(f"{url}/clinics/{CLINIC}/audit", params={"sub": sub}, headers=auditor)
        [entry] = page.json()["entries"]
        return entry["client_address"]


FORGED = [
    {"X-Forwarded-For": "203.0.113.9"},
    {"Forwarded": "for=203.0.113.9"},
    {"X-Forwarded-For": "203.0.113.9", "Forwarded": 'for="[2001:db8::9]:4711"'},
]


async def test_forwarded_addresses_are_not_trusted_from_an_unconfigured_caller(
    shared_suite: dict[str, ServiceProcess],
) -> None:
    # The tests call from 127.0.0.1, which no setting names as a proxy.
    for headers in FORGED:
        assert await _audited_address(shared_suite["sessions"].url, headers) == "127.0.0.1"


@pytest.fixture
def sessions_behind_a_proxy(tmp_path: Path, nats_server: NatsServer, smtp: SmtpCollector):
    """The sessions service with 127.0.0.1 (where the tests call from) as its trusted proxy,
    and a private range where further proxies of the chain are."""
    env = suite_env(tmp_path, nats_server.url, smtp)
    env["RAPPORT_TRUSTED_PROXIES"] = "127.0.0.1, 10.0.0.0/8"
    process = ServiceProcess("sessions", free_port(), env, tmp_path / "logs" / "sessions.log")
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


async def test_a_trusted_proxy_names_the_client_right_most_untrusted_first(
    sessions_behind_a_proxy: ServiceProcess,
) -> None:
    url = sessions_behind_a_proxy.url
    # The caller's own claim (left) is not believed past the first address a proxy added.
    chain = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9, 10.1.2.3"}
    assert await _audited_address(url, chain) == "203.0.113.9"
    forwarded = {"Forwarded": 'for=198.51.100.7, for="[2001:db8::9]:4711";proto=https'}
    assert await _audited_address(url, forwarded) == "2001:db8::9"
    # Nothing forwarded, or only trusted proxies: the peer itself.
    assert await _audited_address(url, {}) == "127.0.0.1"
    assert await _audited_address(url, {"X-Forwarded-For": "10.9.9.9"}) == "10.9.9.9"
    # Garbage is not an address: the proxy's own address is recorded instead.
    assert await _audited_address(url, {"X-Forwarded-For": "not-an-ip"}) == "127.0.0.1"
