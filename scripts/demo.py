"""Loads the demo organisation through the public APIs: two clinics, their counselors and
clients, closed sessions with agreed plans, and homework both done and pending.

Each step is done by the person whose job it is, with their own token: the clinic admin assigns
each client's care team and records contact addresses, the counselor schedules, writes the note
and closes the session, the client completes their homework.

Every id is derived from a fixed name, so loading twice creates nothing twice: a 409 for an
existing session or already-completed homework means "already there".
"""

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx

from rapport_shared.security.auth import ALL_CLINICS, mint_token

DEMO = uuid.UUID("5b7f8a52-3c1e-4d2a-9a57-0d3c5e1f2a10")

CLINICS = {
    "northside": {
        "counselor": "dr-okafor",
        "clients": {
            "client-ana": (
                "Practise box breathing when anxious",
                "Write three worries, then a response to each",
            ),
            "client-ben": (
                "Walk outside three times a week",
                "Log each walk and your mood before and after",
            ),
        },
    },
    "riverside": {
        "counselor": "dr-lindqvist",
        "clients": {
            "client-cara": (
                "Reduce late-night screen time",
                "Phone out of the bedroom by 22:30; note how you slept",
            ),
        },
    },
}


# Long enough for a day of trying things out; `uv run rapport token` mints more.
DEMO_TOKEN_TTL = timedelta(hours=12)


def demo_tokens(secret: str) -> dict[str, dict[str, str]]:
    """Per clinic, a token for each role (the first client stands for the clients), and the
    operator's under "*"."""
    tokens: dict[str, dict[str, str]] = {}
    for clinic, org in CLINICS.items():
        people = {
            "clinic-admin": f"admin-{clinic}",
            "counselor": org["counselor"],
            "client": next(iter(org["clients"])),
            "auditor": f"auditor-{clinic}",
        }
        tokens[clinic] = {
            role: mint_token(secret, sub=sub, clinic=clinic, role=role, ttl=DEMO_TOKEN_TTL)
            for role, sub in people.items()
        }
    tokens[ALL_CLINICS] = {
        "operator": mint_token(
            secret, sub="operator", clinic=ALL_CLINICS, role="operator", ttl=DEMO_TOKEN_TTL
        )
    }
    return tokens


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _created_or_exists(response: httpx.Response) -> None:
    if response.status_code not in (200, 201, 409):
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text}"
        )


def load_demo(
    urls: dict[str, str], secret: str, timeout: float = 30.0
) -> list[tuple[str, str, str]]:
    """Returns (clinic, client, homework id) of each homework left pending."""
    now = datetime.now(UTC)
    pending: list[tuple[str, str, str]] = []
    with httpx.Client(timeout=10.0) as http:
        for clinic, org in CLINICS.items():
            counselor = org["counselor"]
            admin = _as(demo_tokens(secret)[clinic]["clinic-admin"])
            as_counselor = _as(mint_token(secret, sub=counselor, clinic=clinic, role="counselor"))
            for client, (goal, task) in org["clients"].items():
                as_client = _as(mint_token(secret, sub=client, clinic=clinic, role="client"))
                _created_or_exists(
                    http.put(
                        f"{urls['sessions']}/clinics/{clinic}/clients/{client}/care-team",
                        json={"counselor_ids": [counselor]},
                        headers=admin,
                    )
                )
                _created_or_exists(
                    http.put(
                        f"{urls['notifications']}/clinics/{clinic}/recipients/{client}",
                        json={"email": f"{client}@{clinic}.example.org"},
                        headers=admin,
                    )
                )
                # The client's name: kept encrypted by the sessions service, never on the bus.
                _created_or_exists(
                    http.put(
                        f"{urls['sessions']}/clinics/{clinic}/clients/{client}/profile",
                        json={
                            "display_name": client.removeprefix("client-").title(),
                            "updated_by": counselor,
                        },
                        headers=as_counselor,
                    )
                )
                session_id = str(uuid.uuid5(DEMO, f"{clinic}/{client}/session-1"))
                _created_or_exists(
                    http.post(
                        f"{urls['sessions']}/clinics/{clinic}/sessions",
                        json={
                            "session_id": session_id,
                            "client_id": client,
                            "counselor_id": counselor,
                            "starts_at": (now - timedelta(hours=2)).isoformat(),
                        },
                        headers=as_counselor,
                    )
                )
                _created_or_exists(
                    http.post(
                        f"{urls['sessions']}/clinics/{clinic}/sessions/{session_id}/notes",
                        json={"body": f"Demo note: explored {goal.lower()}; agreed a plan."},
                        headers=as_counselor,
                    )
                )
                _created_or_exists(
                    http.post(
                        f"{urls['sessions']}/clinics/{clinic}/sessions/{session_id}/close",
                        json={
                            "next_session_at": (now + timedelta(days=7)).isoformat(),
                            "goals": [
                                {
                                    "description": goal,
                                    "measure": "self-rated 0-10 weekly",
                                    "target": "7 or more for three weeks",
                                    "due_date": (date.today() + timedelta(days=60)).isoformat(),
                                }
                            ],
                            "homework": [
                                {
                                    "instructions": task,
                                    "due_at": (now + timedelta(days=2)).isoformat(),
                                    "goal_index": 0,
                                },
                                {
                                    "instructions": "Read the handout on sleep hygiene",
                                    "due_at": (now + timedelta(days=5)).isoformat(),
                                    "goal_index": 0,
                                },
                            ],
                        },
                        headers=as_counselor,
                    )
                )
                homework = _wait_for_homework(
                    http, urls["goals"], clinic, client, 2, timeout, as_client
                )
                first, second = sorted(homework, key=lambda h: h["due_at"])
                _created_or_exists(
                    http.post(
                        f"{urls['goals']}/clinics/{clinic}/homework/{first['homework_id']}/complete",
                        json={},
                        headers=as_client,
                    )
                )
                pending.append((clinic, client, second["homework_id"]))
    return pending


def _wait_for_homework(
    http: httpx.Client,
    goals_url: str,
    clinic: str,
    client: str,
    count: int,
    timeout: float,
    headers: dict[str, str],
) -> list[dict[str, str]]:
    """The goals service creates homework when it consumes session-closed: eventually."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = http.get(
            f"{goals_url}/clinics/{clinic}/clients/{client}/homework", headers=headers
        )
        if response.status_code == 200 and len(response.json()) >= count:
            return list(response.json())
        time.sleep(0.2)
    raise TimeoutError(f"homework for {clinic}/{client} did not appear within {timeout}s")
