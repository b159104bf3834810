"""/readyz follows the database, not the broker: while NATS is down the service keeps accepting
commands into its outbox, so it must stay in its load balancer. The broker's state is told
beside it, in /metrics and in /admin/status, and what was accepted goes out once it is back."""

from datetime import date, timedelta
from uuid import uuid4

from goals_support import CLIENT, CLINIC, COUNSELOR, running_goals

from rapport_shared.testing import eventually


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
