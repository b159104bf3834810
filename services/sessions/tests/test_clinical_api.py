"""Lifecycle, note formats, signing, addenda and the as-of record through the HTTP API, against a
real nats-server and database."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from sessions_support import CLINIC, RunningService, later, plan

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import eventually, subscriptions_in_effect

SECRET = "private-explanation-91c2"
SOAP = {
    "subjective": "slept better",
    "objective": "calm, good eye contact",
    "assessment": "improving",
    "plan": "keep the walking log; review sleep next time",
}


def url(session: dict[str, Any], action: str = "") -> str:
    return f"/clinics/{CLINIC}/sessions/{session['session_id']}{action}"


async def test_the_lifecycle_publishes_its_events_and_keeps_explanations_private(
    service: RunningService, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        attended = await service.schedule()
        started = await service.http.post(url(attended, "/start"))
        assert started.status_code == 200, started.text
        assert (started.json()["status"], started.json()["started_at"] is not None) == (
            "in-progress",
            True,
        )
        closed = await service.http.post(url(attended, "/close"), json=plan())
        assert (closed.status_code, closed.json()["status"]) == (200, "closed")

        called_off = await service.schedule()
        body = {"reason": "client-request", "explanation": SECRET}
        cancelled = await service.http.post(url(called_off, "/cancel"), json=body)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["cancellation"] == {
            "cancelled_at": cancelled.json()["cancellation"]["cancelled_at"],
            "reason": "client-request",
            "explanation": SECRET,
        }
        absent = await service.schedule(starts_at=later(hours=-1))
        missed = await service.http.post(url(absent, "/no-show"))
        assert (missed.status_code, missed.json()["status"]) == (200, "no-show")

        js = nc.jetstream()
        expected = [
            "session-scheduled",
            "session-started",
            "session-closed",
            "session-scheduled",
            "session-cancelled",
            "session-scheduled",
            "session-no-show",
        ]

        async def published() -> list[bytes]:
            info = await js.stream_info("RAPPORT_SESSIONS")
            if info.state.messages < len(expected):
                return []
            return [
                (await js.get_msg("RAPPORT_SESSIONS", seq)).data or b""
                for seq in range(1, info.state.messages + 1)
            ]

        messages = await eventually(published)
        assert [json.loads(m)["type"].split(".")[2] for m in messages] == expected
        assert all(SECRET.encode() not in m for m in messages)
        cancel = json.loads(messages[4])["data"]
        assert (cancel["reason"], cancel["session_id"]) == (
            "client-request",
            called_off["session_id"],
        )
    finally:
        await nc.close()


async def test_lifecycle_refusals_are_conflicts_and_write_nothing(service: RunningService) -> None:
    closed = await service.schedule()
    await service.http.post(url(closed, "/close"), json=plan())
    cancelled = await service.schedule()
    await service.http.post(url(cancelled, "/cancel"), json={"reason": "other"})
    future = await service.schedule()
    cases = [
        (url(closed, "/start"), None),
        (url(closed, "/cancel"), {"reason": "other"}),
        (url(closed, "/no-show"), None),
        (url(cancelled, "/start"), None),
        (url(cancelled, "/close"), plan()),
        (url(cancelled, "/notes"), {"body": "x"}),
        (url(future, "/no-show"), None),  # not due yet
    ]
    events_before = await service.count_events()
    for path, body in cases:
        response = await service.http.post(path, json=body)
        assert response.status_code == 409, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    bad = [
        (url(future, "/cancel"), {"reason": "bored"}, "reason"),
        (url(future, "/cancel"), {}, "reason"),
        (url(future, "/cancel"), {"reason": "other", "explanation": " "}, "explanation"),
        (url(future, "/cancel"), {"reason": "other", "explanation": "x" * 2001}, "explanation"),
    ]
    for path, body, field in bad:
        response = await service.http.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert await service.count_events() == events_before
    assert (await service.http.get(url(future))).json()["status"] == "scheduled"


async def test_note_formats_are_validated_by_their_sections(service: RunningService) -> None:
    session = await service.schedule()
    notes = url(session, "/notes")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"format": "SOAP", "sections": {**SOAP, "mood": "ok"}}, "sections.mood"),
        (
            {"format": "SOAP", "sections": {k: v for k, v in SOAP.items() if k != "plan"}},
            "sections.plan",
        ),
        (
            {"format": "DAP", "sections": {"data": "d", "assessment": " ", "plan": "p"}},
            "sections.assessment",
        ),
        (
            {"format": "BIRP", "sections": {"behavior": "b", "intervention": "i", "response": "r"}},
            "sections.plan",
        ),
        (
            {
                "format": "GIRP",
                "sections": {
                    "goals": "g",
                    "intervention": "i",
                    "response": "r",
                    "plan": "x" * 20_001,
                },
            },
            "sections.plan",
        ),
        ({"format": "free", "sections": {"body": "x"}}, "sections.body"),
        ({"format": "PIRP", "sections": {"text": "x"}}, "format"),
        ({"format": "SOAP"}, "sections"),
        ({"sections": SOAP}, "format"),
        ({"body": "x", "format": "free", "sections": {"text": "x"}}, "body"),
        ({}, "format"),
    ]
    before = await service.count_events()
    for body, field in cases:
        response = await service.http.post(notes, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())
    assert await service.count_events() == before

    girp = {"goals": "sleep", "intervention": "CBT-I", "response": "engaged", "plan": "diary"}
    for note_format, sections in (("SOAP", SOAP), ("GIRP", girp), ("free", {"text": "plain"})):
        response = await service.http.post(
            notes, json={"format": note_format, "sections": sections}
        )
        assert response.status_code == 201, response.text
        note = (await service.http.get(url(session))).json()["note"]
        assert (note["format"], note["sections"]) == (note_format, sections)
    assert note["body"] == "plain"


async def test_a_signed_note_is_locked_and_only_amended(service: RunningService) -> None:
    session = await service.schedule()
    await service.http.post(url(session, "/notes"), json={"format": "SOAP", "sections": SOAP})
    await service.http.post(url(session, "/close"), json=plan())
    unsigned = await service.http.post(
        url(session, "/notes/addenda"), json={"author": "kim", "reason": "r", "text": "t"}
    )
    assert unsigned.status_code == 409

    signed = await service.http.post(url(session, "/notes/sign"), json={"signed_by": "dr-lee"})
    assert signed.status_code == 200, signed.text
    signature = signed.json()["signature"]
    canonical = json.dumps(
        {"format": "SOAP", "sections": SOAP, "session_id": session["session_id"]},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert signature["signed_by"] == "dr-lee"
    assert signature["content_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert await service.count_events("note-signed") == 1

    before = (await service.http.get(url(session))).json()
    for path, body in (
        (url(session, "/notes"), {"body": "rewritten"}),
        (url(session, "/notes"), {"format": "SOAP", "sections": {**SOAP, "plan": "other"}}),
        (url(session, "/notes/sign"), {"signed_by": "kim"}),
    ):
        response = await service.http.post(path, json=body)
        assert response.status_code == 409, (path, response.text)
    assert (await service.http.get(url(session))).json() == before

    bad = [
        ({"author": "kim", "reason": " ", "text": "t"}, "reason"),
        ({"author": "kim", "reason": "r", "text": ""}, "text"),
        ({"author": "kim smith", "reason": "r", "text": "t"}, "author"),
        ({"reason": "r", "text": "t"}, "author"),
    ]
    for body, field in bad:
        response = await service.http.post(url(session, "/notes/addenda"), json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]]

    for author, reason, text in (("kim", "late detail", "called after"), ("dr-lee", "fix", "10mg")):
        added = await service.http.post(
            url(session, "/notes/addenda"), json={"author": author, "reason": reason, "text": text}
        )
        assert added.status_code == 201, added.text
    state = (await service.http.get(url(session))).json()
    assert state["note"] == before["note"]
    assert state["signature"] == before["signature"]
    assert [(a["author"], a["reason"], a["text"]) for a in state["addenda"]] == [
        ("kim", "late detail", "called after"),
        ("dr-lee", "fix", "10mg"),
    ]
    # The signature still matches the note as it stands.
    note = state["note"]
    recomputed = json.dumps(
        {
            "format": note["format"],
            "sections": note["sections"],
            "session_id": session["session_id"],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert hashlib.sha256(recomputed).hexdigest() == state["signature"]["content_sha256"]


async def test_note_signed_is_published_with_the_hash_and_never_the_text(
    service: RunningService, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        sub = await nc.subscribe(f"rapport.{CLINIC}.sessions.note-signed")
        await subscriptions_in_effect(nc)
        session = await service.schedule()
        await service.http.post(url(session, "/notes"), json={"format": "SOAP", "sections": SOAP})
        signed = (
            await service.http.post(url(session, "/notes/sign"), json={"signed_by": "kim"})
        ).json()
        message = await sub.next_msg(timeout=10)
        data = json.loads(message.data)["data"]
        assert data["content_sha256"] == signed["signature"]["content_sha256"]
        assert (data["signed_by"], data["session_id"]) == ("kim", session["session_id"])
        for text in SOAP.values():
            assert text.encode() not in message.data
    finally:
        await nc.close()


async def test_the_record_as_of_a_moment_shows_the_sessions_as_they_stood(
    service: RunningService,
) -> None:
    session = await service.schedule("dana")
    await service.http.post(url(session, "/notes"), json={"body": "first draft"})
    before_change = datetime.now(UTC)
    await service.http.post(url(session, "/notes"), json={"format": "SOAP", "sections": SOAP})
    await service.http.post(url(session, "/close"), json=plan())
    await service.http.post(url(session, "/notes/sign"), json={"signed_by": "kim"})
    await service.http.post(
        url(session, "/notes/addenda"), json={"author": "kim", "reason": "r", "text": "t"}
    )
    second = await service.schedule("dana")
    await service.schedule("erin")

    record = f"/clinics/{CLINIC}/clients/dana/record"
    # A non-UTC offset for the same instant must give the same answer.
    as_of = before_change.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    old = await service.http.get(record, params={"as_of": as_of})
    assert old.status_code == 200, old.text
    (then,) = old.json()["sessions"]
    assert (then["session_id"], then["status"], then["version"]) == (
        session["session_id"],
        "scheduled",
        2,
    )
    assert (then["note"]["format"], then["note"]["body"]) == ("free", "first draft")
    assert (then["signature"], then["addenda"]) == (None, [])

    plus_two = before_change.astimezone(UTC) + timedelta(hours=2)
    now = (await service.http.get(record, params={"as_of": plus_two.isoformat()})).json()
    current, newer = now["sessions"]
    assert newer["session_id"] == second["session_id"]
    assert current == (await service.http.get(url(session))).json()
    assert (current["status"], current["note"]["format"], len(current["addenda"])) == (
        "closed",
        "SOAP",
        1,
    )

    before_all = (before_change - timedelta(days=1)).isoformat()
    assert (await service.http.get(record, params={"as_of": before_all})).json()["sessions"] == []
    for bad in ("2026-11-22T09:00:00", "yesterday"):
        response = await service.http.get(record, params={"as_of": bad})
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["as_of"]
    missing = await service.http.get(record)
    assert missing.status_code == 422
