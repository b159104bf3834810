"""client-erased in the goals service, against a real nats-server and a real database: the
client's key is destroyed and their rows purged; their log stays and replays; a plan closed for
them that arrives later creates nothing; other clients keep working. Their risk flags, measure
asks and measurement plan go too, and a session event of theirs delivered later asks nothing."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from goals_support import (
    CLINIC,
    agreed_goal,
    agreed_homework,
    running_goals,
    session_closed,
)
from sqlalchemy import select

from rapport_devtools.testing import eventually
from rapport_goals.tables import (
    PROJECTION_TABLES,
    goal_history,
    measure_asks,
    measurement_plans,
    risk_flags,
)
from rapport_shared.contracts.sessions import SessionStarted
from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.persistence.schema import events_table


async def test_client_erased_shreds_the_key_and_purges_only_that_client(database_url, nats_server):
    now = datetime.now(UTC)
    async with running_goals(database_url, nats_server.url) as goals:
        for client in ("client-ana", "client-ben"):
            plan = session_closed(
                [agreed_goal(description=f"Goal of {client}")],
                [agreed_homework(now + timedelta(days=2), goal_index=0)],
                client_id=client,
            )
            await goals.publish_session_closed(plan)
            [homework] = await goals.client_homework(1, client_id=client)
            done = await goals.http.post(
                f"/clinics/{CLINIC}/homework/{homework['homework_id']}/complete",
                json={"journal": f"Journal of {client}"},
            )
            assert done.status_code == 200, done.text
        [ana_homework] = await goals.client_homework(1, client_id="client-ana")
        [ben_homework] = await goals.client_homework(1, client_id="client-ben")
        stored = json.dumps([row["data"] for row in await goals.rows(events_table)])
        assert "Journal of" not in stored and "Goal of" not in stored and "enc:v1:" in stored

        await goals.publish_client_erased("client-ana")

        async def purged() -> bool:
            r = await goals.http.get(f"/clinics/{CLINIC}/clients/client-ana/homework")
            return r.status_code == 200 and r.json() == []

        await eventually(purged)
        keys = {row["client_id"]: row for row in await goals.rows(client_keys)}
        assert keys["client-ana"]["key"] is None and keys["client-ana"]["erased_at"] is not None
        assert keys["client-ben"]["key"] is not None
        for table in PROJECTION_TABLES:
            if table is not goal_history:
                owners = {row["client_id"] for row in await goals.rows(table)}
                assert owners <= {"client-ben"}, table.name  # measures: none recorded
        history_goals = {str(row["goal_id"]) for row in await goals.rows(goal_history)}
        assert history_goals == {ben_homework["goal_id"]}

        # The log replays: ana's journal is unreadable, ben's is read back.
        ben_journal = await goals.http.get(
            f"/clinics/{CLINIC}/homework/{ben_homework['homework_id']}/journal"
        )
        assert [e["journal"] for e in ben_journal.json()] == ["Journal of client-ben"]
        gone = await goals.http.get(
            f"/clinics/{CLINIC}/homework/{ana_homework['homework_id']}/journal"
        )
        assert gone.status_code == 404

        # A plan closed for ana before the erasure, delivered after it, plans nothing.
        before = await goals.stored_event_count()
        await goals.publish_session_closed(
            session_closed([agreed_goal()], [], client_id="client-ana")
        )
        marker = session_closed([agreed_goal()], [], client_id="client-ben")
        await goals.publish_session_closed(marker)

        async def marker_planned() -> bool:
            r = await goals.http.get(f"/clinics/{CLINIC}/clients/client-ben/progress")
            return r.status_code == 200 and len(r.json()["goals"]) == 2

        await eventually(marker_planned)
        assert await goals.stored_event_count() == before + 2  # the marker's goal and words

        # A rebuild replays ana's events too, and leaves her rows out again.
        live = await goals.projection_rows()
        rebuilt = await goals.http.post("/admin/projections/progress/rebuild")
        assert rebuilt.status_code == 200, rebuilt.text
        assert await goals.projection_rows() == live
        async with goals.runtime.engine.connect() as conn:
            erased = await conn.execute(
                select(client_keys.c.client_id).where(client_keys.c.erased_at.is_not(None))
            )
            assert erased.scalars().all() == ["client-ana"]


async def test_an_erased_clients_flags_plan_and_asks_go_and_later_sessions_ask_nothing(
    database_url, nats_server
):
    now = datetime.now(UTC)
    plan = {"set_by": "dr-okafor", "schedules": [{"instrument": "PHQ-9", "when": "session-start"}]}
    async with running_goals(database_url, nats_server.url) as goals:
        for client in ("client-ana", "client-ben"):
            base = f"/clinics/{CLINIC}/clients/{client}"
            assert (await goals.http.put(f"{base}/measurement-plan", json=plan)).status_code == 200
            risky = {"instrument": "PHQ-9", "items": [0] * 8 + [2]}
            assert (await goals.http.post(f"{base}/measures", json=risky)).status_code == 201
            await goals.publish_as_sessions(_started(client, now), f"session-{client}", now)
        await goals.published_of("measure-requested", 2)
        owned = (risk_flags, measure_asks, measurement_plans)
        for table in owned:
            assert {row["client_id"] for row in await goals.rows(table)} == {
                "client-ana",
                "client-ben",
            }, table.name

        await goals.publish_client_erased("client-ana")

        async def purged() -> bool:
            owners = [{row["client_id"] for row in await goals.rows(t)} for t in owned]
            return owners == [{"client-ben"}] * len(owned)

        await eventually(purged)
        # A session of ana's started before the erasure, delivered after: nothing is asked.
        await goals.publish_as_sessions(
            _started("client-ana", now + timedelta(minutes=1)), "session-late", now
        )
        await goals.publish_as_sessions(
            _started("client-ben", now + timedelta(minutes=1)), "session-marker", now
        )
        # Both through the same consumer, in order: ben's ask comes after whatever ana's made.
        asks = await goals.published_of("measure-requested", 3)
        assert [ask.client_id for ask in asks] == ["client-ana", "client-ben", "client-ben"]


def _started(client: str, at: datetime) -> SessionStarted:
    return SessionStarted(
        clinic_id=CLINIC,
        session_id=uuid.uuid4(),
        client_id=client,
        counselor_id="dr-okafor",
        started_at=at,
    )
