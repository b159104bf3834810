"""/readyz follows the database, not the broker: while NATS is down the service keeps accepting
commands into its outbox, so it must stay in its load balancer. The broker's state is told
beside it, in /metrics and in /admin/status, and what was accepted goes out once it is back.
Without its database the service is not ready."""

from datetime import date, timedelta
from uuid import uuid4

import asyncpg
import pytest
from goals_support import CLIENT, CLINIC, COUNSELOR, running_goals
from sqlalchemy import make_url

from rapport_devtools.testing import eventually, serving


async def test_the_service_stays_ready_and_accepts_commands_while_the_broker_is_down(
    database_url, nats_server
):
    async with running_goals(database_url, nats_server.url) as goals:
        ready = await goals.http.get("/readyz")
        assert ready.json() == {"status": "ready", "database": "ok", "broker": "connected"}

        nats_server.stop()

        async def broker_down() -> dict | None:
            answer = await goals.http.get("/readyz")
            assert answer.status_code == 200, answer.text
            return answer.json() if answer.json()["broker"] == "disconnected" else None

        assert await eventually(broker_down) == {
            "status": "ready",
            "database": "ok",
            "broker": "disconnected",
        }
        accepted = await goals.http.post(
            f"/clinics/{CLINIC}/goals",
            json={
                "goal_id": str(uuid4()),
                "client_id": CLIENT,
                "counselor_id": COUNSELOR,
                "description": "Practise box breathing when anxious",
                "measure": "times practised",
                "target": "once a day",
                "due_date": str(date.today() + timedelta(days=30)),
            },
        )
        assert accepted.status_code == 201, accepted.text
        waiting = await goals.waiting_to_publish()  # kept in the outbox
        assert waiting >= 1
        metrics = (await goals.http.get("/metrics")).text
        assert "rapport_broker_connected 0.0" in metrics
        assert f"rapport_outbox_backlog {float(waiting)}" in metrics
        status = (await goals.http.get("/admin/status")).json()
        assert (status["ready"], status["broker"], status["broker_connected"]) == (
            True,
            "disconnected",
            False,
        )

        nats_server.start()  # same port and store: the service reconnects by itself
        await eventually(lambda: _published(goals), timeout=20)
        assert "rapport_broker_connected 1.0" in (await goals.http.get("/metrics")).text


async def _published(goals) -> bool:
    return await goals.waiting_to_publish() == 0


async def test_the_service_is_not_ready_while_its_database_does_not_answer(
    database_url, nats_server, request
):
    """PostgreSQL only: the test's database refuses connections for a while."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite file cannot be made unreachable to the process holding it open")
    name = make_url(database_url).database
    admin_url = make_url(request.getfixturevalue("postgres_server_url")).set(
        drivername="postgresql"
    )
    admin = await asyncpg.connect(admin_url.render_as_string(hide_password=False))
    try:
        async with running_goals(database_url, nats_server.url) as goals:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )

            async def database_down() -> dict | None:
                answer = await goals.http.get("/readyz")
                return answer.json() if answer.status_code == 503 else None

            down = await eventually(database_down)
            assert (down["database"], down["broker"]) == ("unreachable", "connected")

            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await eventually(lambda: serving(goals.http))
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
