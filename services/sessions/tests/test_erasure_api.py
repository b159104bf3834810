"""A client's name and free text, encrypted in the sessions store, and their erasure, against a
real nats-server and a real database (SQLite, and PostgreSQL when configured)."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from sessions_support import CLINIC, GoalsProducer, RunningService, plan
from sqlalchemy import select

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import eventually, subscriptions_in_effect
from rapport_sessions.tables import PROJECTION_TABLES
from rapport_shared.contracts.goals import HomeworkCompleted
from rapport_shared.contracts.plan import derived_id
from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.persistence.schema import events_table

SOAP = {"subjective": "s-TEXT-1", "objective": "o", "assessment": "a", "plan": "p-TEXT-2"}
WORDS = ("s-TEXT-1", "p-TEXT-2", "Addendum-TEXT-3", "Reason-TEXT-4", "Name-TEXT-5", "Cancel-TEXT-6")


async def rows(service: RunningService, table: Any) -> list[dict[str, Any]]:
    async with service.runtime.engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(select(table))]


async def write_record(service: RunningService, client_id: str) -> str:
    """A profile, a signed SOAP note with an addendum, and a close with a plan."""
    http = service.http
    profile = await http.put(
        f"/clinics/{CLINIC}/clients/{client_id}/profile",
        json={"display_name": f"{client_id} Name-TEXT-5", "updated_by": "admin-1"},
    )
    assert profile.status_code == 200, profile.text
    session = await service.schedule(client_id)
    url = f"/clinics/{CLINIC}/sessions/{session['session_id']}"
    assert (await http.post(f"{url}/notes", json={"format": "SOAP", "sections": SOAP})).is_success
    assert (await http.post(f"{url}/notes/sign", json={"signed_by": "kim"})).is_success
    addendum = {"author": "kim", "reason": "Reason-TEXT-4", "text": "Addendum-TEXT-3"}
    assert (await http.post(f"{url}/notes/addenda", json=addendum)).status_code == 201
    assert (await http.post(f"{url}/close", json=plan())).status_code == 200
    later = await service.schedule(client_id)
    cancel = {"reason": "client-request", "explanation": "Cancel-TEXT-6"}
    cancelled = await http.post(
        f"/clinics/{CLINIC}/sessions/{later['session_id']}/cancel", json=cancel
    )
    assert cancelled.json()["cancellation"]["explanation"] == "Cancel-TEXT-6"
    return str(session["session_id"])


async def test_free_text_and_names_are_stored_encrypted_and_read_back(
    service: RunningService,
) -> None:
    session_id = await write_record(service, "ana")
    state = (await service.http.get(f"/clinics/{CLINIC}/sessions/{session_id}")).json()
    assert (state["note"]["sections"], state["addenda"][0]["text"]) == (SOAP, "Addendum-TEXT-3")
    assert state["goals"][0]["description"] == plan()["goals"][0]["description"]
    profile = (await service.http.get(f"/clinics/{CLINIC}/clients/ana/profile")).json()
    assert profile["display_name"] == "ana Name-TEXT-5"
    stored = json.dumps([row["data"] for row in await rows(service, events_table)])
    for words in (*WORDS, plan()["goals"][0]["description"], "log each walk"):
        assert words not in stored
    assert stored.count("enc:v1:") >= 6
    # Nor in the projections: the notes keep the plan's words as tokens.
    projected = json.dumps({t.name: await rows(service, t) for t in PROJECTION_TABLES}, default=str)
    assert plan()["goals"][0]["description"] not in projected and "enc:v1:" in projected
    missing = await service.http.get(f"/clinics/{CLINIC}/clients/nobody/profile")
    assert missing.status_code == 404


async def test_erasure_shreds_the_key_purges_the_projections_and_is_published(
    service: RunningService, goals: GoalsProducer, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    received: list[bytes] = []

    async def collect(message: Any) -> None:
        received.append(message.data)

    await nc.subscribe(f"rapport.{CLINIC}.sessions.client-erased", cb=collect)
    await subscriptions_in_effect(nc)
    try:
        ana = await write_record(service, "ana")
        ben = await write_record(service, "ben")
        before = {t.name: len(await rows(service, t)) for t in PROJECTION_TABLES}
        erased = await service.http.post(
            f"/clinics/{CLINIC}/clients/ana/erasure", json={"erased_by": "admin-1"}
        )
        assert erased.status_code == 201, erased.text
        again = await service.http.post(
            f"/clinics/{CLINIC}/clients/ana/erasure", json={"erased_by": "admin-1"}
        )
        assert again.status_code == 409 and again.json()["errors"][0]["field"] == "client_id"

        # Every projection row of ana is gone; ben's are all still there.
        for table in PROJECTION_TABLES:
            left = await rows(service, table)
            assert {row["client_id"] for row in left} <= {"ben"}, table.name
        assert sum(before.values()) > sum([len(await rows(service, t)) for t in PROJECTION_TABLES])
        keys = {row["client_id"]: row for row in await rows(service, client_keys)}
        assert keys["ana"]["key"] is None and keys["ana"]["erased_at"] is not None
        assert keys["ben"]["key"] is not None and keys["ben"]["erased_at"] is None

        # The log is intact and replays, its words unreadable; ben's are readable.
        state = (await service.http.get(f"/clinics/{CLINIC}/sessions/{ana}")).json()
        assert state["status"] == "closed" and state["note"]["sections"]["subjective"] == ""
        assert state["addenda"][0]["text"] == "" and state["goals"][0]["description"] == ""
        other = (await service.http.get(f"/clinics/{CLINIC}/sessions/{ben}")).json()
        assert other["note"]["sections"] == SOAP
        # Nothing new is written for an erased client.
        refused = await service.http.put(
            f"/clinics/{CLINIC}/clients/ana/profile",
            json={"display_name": "again", "updated_by": "admin-1"},
        )
        assert refused.status_code == 409

        # A goals event about ana still in flight does not bring a row back.
        homework_id = derived_id(uuid.UUID(ana), "homework", 0)
        late = HomeworkCompleted(
            clinic_id=CLINIC,
            homework_id=homework_id,
            client_id="ana",
            due_at=datetime.now(UTC) + timedelta(days=3),
            completed_at=datetime.now(UTC),
        )
        await goals.publish(late)
        await goals.publish(late.model_copy(update={"client_id": "ben"}))
        consumer = service.runtime.consumers[0]

        async def both_seen() -> bool:
            return consumer.applied >= 2

        await eventually(both_seen)
        for table in PROJECTION_TABLES:
            assert "ana" not in {row["client_id"] for row in await rows(service, table)}

        async def published() -> bool:
            return len(received) == 1

        await eventually(published)
        data = json.loads(received[0])["data"]
        assert (data["client_id"], data["erased_by"]) == ("ana", "admin-1")
    finally:
        await nc.close()
