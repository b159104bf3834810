"""Idempotency-Key replays on the real sessions service (real database, real nats-server): a
stored answer goes only to the same clinic, subject and role, only once the route's own
authorization lets the repeated request through, rests sealed, and is gone once its client is
erased."""

import secrets
from pathlib import Path

from sessions_support import CLINIC, RunningService, later
from sqlalchemy import select

from rapport_devtools.testing import bearer, mint_test_token
from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.web.idempotency.table import idempotency_keys

SESSIONS = f"/clinics/{CLINIC}/sessions"
TEAM = f"/clinics/{CLINIC}/clients/alice/care-team"


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def database_files(directory: Path) -> list[bytes]:
    return [path.read_bytes() for path in directory.glob("test.db*")]  # with -wal and -shm


async def stored_bodies(service: RunningService) -> list[bytes]:
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(select(idempotency_keys.c.body))
        return [bytes(body) for (body,) in rows if body is not None]


async def test_a_stored_answer_is_replayed_only_to_the_same_role_once_authorized_again(
    service: RunningService,
) -> None:
    kim = bearer(mint_test_token("counselor", CLINIC, "kim"))
    kim_auditing = bearer(mint_test_token("auditor", CLINIC, "kim"))
    assert (await service.http.put(TEAM, json={"counselor_ids": ["kim"]})).status_code == 200
    body = {"client_id": "alice", "counselor_id": "kim", "starts_at": later(1)}
    first = await service.http.post(SESSIONS, json=body, headers={**kim, **key("k-1")})
    assert first.status_code == 201, first.text

    # The same subject with an auditor's token: not the counselor's answer, but what an auditor
    # asking to schedule gets.
    as_auditor = await service.http.post(
        SESSIONS, json=body, headers={**kim_auditing, **key("k-1")}
    )
    assert as_auditor.status_code == 403, as_auditor.text
    assert "Idempotent-Replayed" not in as_auditor.headers

    # Taken off alice's care team: the retry is refused as a fresh request would be.
    assert (await service.http.put(TEAM, json={"counselor_ids": []})).status_code == 200
    removed = await service.http.post(SESSIONS, json=body, headers={**kim, **key("k-1")})
    assert removed.status_code in (403, 404), removed.text
    assert "Idempotent-Replayed" not in removed.headers
    assert first.json()["session_id"] not in removed.text

    # Back on the team: the stored answer again, and still one session.
    assert (await service.http.put(TEAM, json={"counselor_ids": ["kim"]})).status_code == 200
    again = await service.http.post(SESSIONS, json=body, headers={**kim, **key("k-1")})
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await service.count_events("session-scheduled") == 1


async def test_stored_answers_hold_no_words_in_clear_and_are_gone_after_erasure(
    service: RunningService, database_url: str, tmp_path: Path
) -> None:
    words = f"Alice-{secrets.token_hex(6)}: too anxious to take the tram today"
    session = await service.schedule("alice")
    cancel_url = f"{SESSIONS}/{session['session_id']}/cancel"
    cancel = {"reason": "client-request", "explanation": words}
    cancelled = await service.http.post(cancel_url, json=cancel, headers=key("cancel-1"))
    assert cancelled.status_code == 200, cancelled.text
    assert words in cancelled.text  # the answer carries the words...
    bodies = await stored_bodies(service)
    assert bodies and all(words.encode() not in body for body in bodies)  # ...its copy does not
    replayed = await service.http.post(cancel_url, json=cancel, headers=key("cancel-1"))
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == cancelled.json()

    async with service.runtime.engine.connect() as conn:
        alices_key = await KeyRing().key(conn, CLINIC, "alice")
    assert alices_key is not None
    erased = await service.http.post(
        f"/clinics/{CLINIC}/clients/alice/erasure", json={"erased_by": "admin-1"}
    )
    assert erased.status_code == 201, erased.text
    gone = await service.http.post(cancel_url, json=cancel, headers=key("cancel-1"))
    assert gone.status_code == 410, gone.text
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["errors"][0]["field"] == "Idempotency-Key"
    assert words not in gone.text
    assert await service.count_events("session-cancelled") == 1
    assert all(words.encode() not in body for body in await stored_bodies(service))
    if database_url.startswith("sqlite"):
        # Neither the key that sealed the answer nor the answer is left in the database files
        # (the WAL held their old pages until the erasure's commit cleared it).
        files = database_files(tmp_path)
        assert not [data for data in files if alices_key in data or words.encode() in data]
