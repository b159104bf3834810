"""Role x action x own/other client x own/other clinic, against the three services running as
processes (real nats-server, SQLite): every cell's status code, and that no response carries
another client's data. docs/security.md has the same matrix in prose.

The world: in northside, client alice (care team: counselor kim) and client bob (care team:
counselor lee); in riverside, client carol. The callers are northside's clinic admin, kim,
alice, an auditor and an operator. "own" is alice (kim's assigned client, alice's own record),
"other" is bob, "clinic" is carol in riverside.

The tests share one running suite (shared_suite) with other modules' tests; each builds a
world of its own, whose people carry fresh ids (World.people), so that what one test's world
does is nowhere in another's.
"""

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from rapport_devtools.testing import ClinicAdminAuth, bearer, eventually, mint_test_token

pytestmark = pytest.mark.e2e

CLINIC, OTHER_CLINIC = "northside", "riverside"
OK, FORBIDDEN, NOT_FOUND = "ok", 403, 404


@dataclass
class Subject:
    """A client and the resources they own; marker appears in their data and nowhere else."""

    clinic: str
    client: str
    counselor: str
    session_id: str = ""
    goal_id: str = ""
    homework_id: str = ""

    @property
    def marker(self) -> str:
        return f"marker-of-{self.client}"


# Every client's marker (clients' ids are slugs).
_MARKER = re.compile(r"marker-of-[a-z0-9-]+")


@dataclass
class World:
    urls: dict[str, str]
    http: httpx.AsyncClient  # a clinic admin of whichever clinic the path names
    subjects: dict[str, Subject]
    people: dict[str, str]  # the id, in this world, of each person the docstring names

    def url(self, service: str, subject: Subject, path: str) -> str:
        return f"{self.urls[service]}/clinics/{subject.clinic}{path}"


Call = Callable[[World, Subject, str, dict[str, str]], Awaitable[httpx.Response]]


def _later(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _goal(subject: Subject, author: str) -> dict[str, object]:
    return {
        "client_id": subject.client,
        "counselor_id": author,
        "description": f"walk daily {subject.marker}",
        "measure": "walks",
        "target": "7 a week",
        "due_date": str(date.today() + timedelta(days=30)),
    }


def _homework(subject: Subject, author: str) -> dict[str, object]:
    return {
        "client_id": subject.client,
        "counselor_id": author,
        "instructions": f"log walks {subject.marker}",
        "due_at": _later(3),
    }


async def _read_notes(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("sessions", s, f"/clients/{s.client}/notes"), headers=h)


async def _read_prep(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("sessions", s, f"/clients/{s.client}/prep-brief"), headers=h)


async def _read_session(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("sessions", s, f"/sessions/{s.session_id}"), headers=h)


async def _schedule(w: World, s: Subject, me: str, h: dict[str, str]) -> httpx.Response:
    body = {"client_id": s.client, "counselor_id": me, "starts_at": _later(2)}
    return await w.http.post(w.url("sessions", s, "/sessions"), json=body, headers=h)


async def _record_note(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    url = w.url("sessions", s, f"/sessions/{s.session_id}/notes")
    return await w.http.post(url, json={"body": f"note {s.marker}"}, headers=h)


async def _set_care_team(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    url = w.url("sessions", s, f"/clients/{s.client}/care-team")
    return await w.http.put(url, json={"counselor_ids": [s.counselor]}, headers=h)


async def _read_homework(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("goals", s, f"/clients/{s.client}/homework"), headers=h)


async def _read_goal(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("goals", s, f"/goals/{s.goal_id}"), headers=h)


async def _read_progress(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("goals", s, f"/clients/{s.client}/progress"), headers=h)


async def _assign_homework(w: World, s: Subject, me: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.post(w.url("goals", s, "/homework"), json=_homework(s, me), headers=h)


async def _revise_goal(w: World, s: Subject, me: str, h: dict[str, str]) -> httpx.Response:
    body = {"revised_by": me, "target": f"{uuid.uuid4().hex[:6]} a week"}
    return await w.http.patch(w.url("goals", s, f"/goals/{s.goal_id}"), json=body, headers=h)


async def _record_measure(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    url = w.url("goals", s, f"/clients/{s.client}/measures")
    return await w.http.post(url, json={"instrument": "GAD-7", "items": [1] * 7}, headers=h)


async def _complete_homework(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    # Fresh homework each time (assigned by the clinic's admin): a completion is once only.
    assigned = await w.http.post(w.url("goals", s, "/homework"), json=_homework(s, s.counselor))
    assert assigned.status_code == 201, assigned.text
    url = w.url("goals", s, f"/homework/{assigned.json()['homework_id']}/complete")
    return await w.http.post(url, headers=h)


async def _read_reminders(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    url = w.url("notifications", s, f"/recipients/{s.client}/reminders")
    return await w.http.get(url, headers=h)


async def _set_contact(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    url = w.url("notifications", s, f"/recipients/{s.client}")
    return await w.http.put(url, json={"email": f"{s.client}@example.org"}, headers=h)


async def _read_profile(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("sessions", s, f"/clients/{s.client}/profile"), headers=h)


async def _set_profile(w: World, s: Subject, me: str, h: dict[str, str]) -> httpx.Response:
    url = w.url("sessions", s, f"/clients/{s.client}/profile")
    body = {"display_name": f"Name {s.marker}", "updated_by": me}
    return await w.http.put(url, json=body, headers=h)


async def _read_journal(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("goals", s, f"/homework/{s.homework_id}/journal"), headers=h)


async def _read_feed(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    return await w.http.get(w.url("notifications", s, f"/recipients/{s.client}/feed"), headers=h)


async def _mark_feed_read(w: World, s: Subject, _: str, h: dict[str, str]) -> httpx.Response:
    url = w.url("notifications", s, f"/recipients/{s.client}/feed/read")
    return await w.http.post(url, json={"item_ids": [str(uuid.uuid4())]}, headers=h)


# (action, kind, success status). Kinds: staff reads, client-facing reads, writes to the
# clinical record, client-facing writes, the care team.
ACTIONS: list[tuple[Call, str, int]] = [
    (_read_notes, "staff-read", 200),
    (_read_prep, "staff-read", 200),
    (_read_session, "staff-read", 200),
    (_schedule, "write", 201),
    (_record_note, "write", 201),
    (_set_care_team, "care-team", 200),
    (_read_homework, "client-read", 200),
    (_read_goal, "client-read", 200),
    (_read_progress, "client-read", 200),
    (_assign_homework, "write", 201),
    (_revise_goal, "write", 200),
    (_record_measure, "client-write", 201),
    (_complete_homework, "client-write", 200),
    (_read_reminders, "client-read", 200),
    (_set_contact, "client-write", 200),
    (_read_profile, "client-read", 200),
    (_set_profile, "write", 200),
    (_read_journal, "client-read", 200),
    (_read_feed, "client-read", 200),
    (_mark_feed_read, "client-write", 200),
]

# role -> kind -> (on alice: own client / assigned client, on bob: another client).
EXPECTED: dict[str, dict[str, tuple[object, object]]] = {
    "clinic-admin": {
        "staff-read": (OK, OK),
        "client-read": (OK, OK),
        "write": (OK, OK),
        "client-write": (OK, OK),
        "care-team": (OK, OK),
    },
    "counselor": {
        "staff-read": (OK, OK),
        "client-read": (OK, OK),
        "write": (OK, FORBIDDEN),
        "client-write": (OK, FORBIDDEN),
        "care-team": (FORBIDDEN, FORBIDDEN),
    },
    "client": {
        "staff-read": (FORBIDDEN, NOT_FOUND),
        "client-read": (OK, NOT_FOUND),
        "write": (FORBIDDEN, NOT_FOUND),
        "client-write": (OK, NOT_FOUND),
        "care-team": (FORBIDDEN, NOT_FOUND),
    },
    "auditor": {
        "staff-read": (OK, OK),
        "client-read": (OK, OK),
        "write": (FORBIDDEN, FORBIDDEN),
        "client-write": (FORBIDDEN, FORBIDDEN),
        "care-team": (FORBIDDEN, FORBIDDEN),
    },
    "operator": {
        kind: (NOT_FOUND, NOT_FOUND)
        for kind in ("staff-read", "client-read", "write", "client-write", "care-team")
    },
}
CALLERS = {
    "clinic-admin": "admin-ann",
    "counselor": "kim",
    "client": "alice",
    "auditor": "auditor-ada",
    "operator": "operator-olu",
}


PEOPLE = ("alice", "bob", "carol", "kim", "lee", *CALLERS.values())


async def _build_world(suite: dict[str, object]) -> World:
    urls = {name: process.url for name, process in suite.items()}  # type: ignore[attr-defined]
    http = httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=15)
    people = {person: f"{person}-{uuid.uuid4().hex[:8]}" for person in PEOPLE}
    world = World(
        urls,
        http,
        {
            "alice": Subject(CLINIC, people["alice"], people["kim"]),
            "bob": Subject(CLINIC, people["bob"], people["lee"]),
            "carol": Subject(OTHER_CLINIC, people["carol"], people["kim"]),
        },
        people,
    )
    for s in world.subjects.values():
        assert (await _set_care_team(world, s, "", {})).status_code == 200
        scheduled = await _schedule(world, s, s.counselor, {})
        assert scheduled.status_code == 201, scheduled.text
        s.session_id = scheduled.json()["session_id"]
        agreed = await world.http.post(world.url("goals", s, "/goals"), json=_goal(s, "x"))
        assert agreed.status_code == 201, agreed.text
        s.goal_id = agreed.json()["goal_id"]
        assigned = await world.http.post(
            world.url("goals", s, "/homework"), json=_homework(s, s.counselor)
        )
        assert assigned.status_code == 201, assigned.text
        s.homework_id = assigned.json()["homework_id"]
        assert (await _set_profile(world, s, people["admin-ann"], {})).status_code == 200
    # Goals and notifications learn the care teams from care-team-changed: wait until kim's
    # write on alice's record is no longer refused in each (both are idempotent here).
    kim = bearer(mint_test_token("counselor", CLINIC, people["kim"]))
    alice = world.subjects["alice"]

    async def kim_may_write() -> bool:
        revised = await _revise_goal(world, alice, people["kim"], kim)
        contact = await _set_contact(world, alice, people["kim"], kim)
        return revised.status_code == 200 and contact.status_code == 200

    await eventually(kim_may_write, timeout=20, interval=0.2)
    return world


def _check(response: httpx.Response, expected: object, success: int, mine: Subject) -> None:
    cell = f"{response.request.method} {response.request.url.path}"
    wanted = success if expected == OK else expected
    assert response.status_code == wanted, f"{cell}: {response.status_code} {response.text}"
    if expected != OK:
        assert response.headers["content-type"] == "application/problem+json", cell
    # Any client's marker but mine, of this world or of another test's on the same suite.
    shown = set(_MARKER.findall(response.text)) - {mine.marker}
    assert not shown, f"{cell} shows another client's data: {shown}"


async def test_every_cell_of_the_matrix(shared_suite) -> None:
    world = await _build_world(shared_suite)
    try:
        s = world.subjects
        for role, by_kind in EXPECTED.items():
            sub = world.people[CALLERS[role]]
            caller = bearer(mint_test_token(role, CLINIC, sub))
            for call, kind, success in ACTIONS:
                own, other = by_kind[kind]
                _check(await call(world, s["alice"], sub, caller), own, success, s["alice"])
                _check(await call(world, s["bob"], sub, caller), other, success, s["bob"])
                # Another clinic's client, through that clinic's paths: as if nothing existed.
                _check(
                    await call(world, s["carol"], sub, caller),
                    NOT_FOUND,
                    success,
                    s["carol"],
                )
    finally:
        await world.http.aclose()


async def test_nobody_acts_in_another_counselors_name_and_audit_sees_the_attempts(
    shared_suite,
) -> None:
    world = await _build_world(shared_suite)
    try:
        people = world.people
        alice = world.subjects["alice"]
        kim = bearer(mint_test_token("counselor", CLINIC, people["kim"]))
        # kim is on alice's care team, but may not write in lee's name...
        for call in (_schedule, _assign_homework, _revise_goal):
            assert (await call(world, alice, people["lee"], kim)).status_code == 403
        # ...while a clinic admin records on a counselor's behalf.
        assert (await _schedule(world, alice, people["lee"], {})).status_code == 201

        # A client sees their own reads of bob's notes refused, and the auditor sees them too.
        alice_token = bearer(mint_test_token("client", CLINIC, alice.client))
        bob = world.subjects["bob"]
        assert (await _read_notes(world, bob, alice.client, alice_token)).status_code == 404
        auditor = bearer(mint_test_token("auditor", CLINIC, people["auditor-ada"]))
        audit_url = f"{world.urls['sessions']}/clinics/{CLINIC}/audit"
        page = await world.http.get(audit_url, params={"sub": alice.client}, headers=auditor)
        assert page.status_code == 200, page.text
        [probe] = page.json()["entries"]
        assert probe["route"] == "/clinics/{clinic_id}/clients/{client_id}/notes"
        assert (probe["client_id"], probe["status"], probe["role"]) == (bob.client, 404, "client")
        refused = await world.http.get(audit_url, params={"sub": people["kim"], "status": 403})
        assert len(refused.json()["entries"]) == 1  # the schedule in lee's name
        # The audit log is for auditors and clinic admins only, of their own clinic.
        assert (await world.http.get(audit_url, headers=kim)).status_code == 403
        assert (await world.http.get(audit_url, headers=alice_token)).status_code == 403
        riverside_audit = f"{world.urls['sessions']}/clinics/{OTHER_CLINIC}/audit"
        assert (await world.http.get(riverside_audit, headers=auditor)).status_code == 404
    finally:
        await world.http.aclose()


async def test_only_a_clinic_admin_erases_a_client(shared_suite) -> None:
    world = await _build_world(shared_suite)
    try:
        alice, carol = world.subjects["alice"], world.subjects["carol"]

        async def erase(s: Subject, me: str, headers: dict[str, str]) -> httpx.Response:
            url = world.url("sessions", s, f"/clients/{s.client}/erasure")
            return await world.http.post(url, json={"erased_by": me}, headers=headers)

        for role, person in CALLERS.items():
            if role == "clinic-admin":
                continue
            sub = world.people[person]
            caller = bearer(mint_test_token(role, CLINIC, sub))
            expected = NOT_FOUND if role == "operator" else FORBIDDEN
            # Even alice herself, and kim on his own client's record: erasure is the admin's.
            assert (await erase(alice, sub, caller)).status_code == expected, role
        ann = world.people["admin-ann"]
        admin = bearer(mint_test_token("clinic-admin", CLINIC, ann))
        assert (await erase(carol, ann, admin)).status_code == NOT_FOUND
        # Nobody erased anything so far: alice's words are still there.
        profile = await _read_profile(world, alice, "", {})
        assert alice.marker in profile.json()["display_name"]
        assert (await erase(alice, ann, admin)).status_code == 201
        assert (await _read_profile(world, alice, "", {})).json()["display_name"] == ""
    finally:
        await world.http.aclose()
