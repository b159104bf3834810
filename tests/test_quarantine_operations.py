"""An operator's view of the outbox quarantine on the running suite: an event the goals stream
refuses (its max_msg_size) is set aside, `rapport status`, /metrics and `rapport quarantine`
show it with the reason, and once the limit is raised a replay publishes it with its own event
id."""

import dataclasses
import json
from datetime import date, timedelta
from uuid import uuid4

import httpx
import nats
from test_operations import rapport

from rapport_devtools.testing import ClinicAdminAuth, eventually

STREAM = "RAPPORT_GOALS"


async def test_a_refused_event_is_quarantined_shown_and_replayed(running_suite, nats_server):
    goals = running_suite["goals"]
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        config = (await js.stream_info(STREAM)).config
        await js.update_stream(dataclasses.replace(config, max_msg_size=200))  # any goal event
        async with httpx.AsyncClient(
            auth=ClinicAdminAuth(), base_url=goals.url, timeout=10
        ) as http:
            goal_id = str(uuid4())
            accepted = await http.post(
                "/clinics/northside/goals",
                json={
                    "goal_id": goal_id,
                    "client_id": "client-ana",
                    "counselor_id": "kim",
                    "description": "Practise box breathing when anxious",
                    "measure": "times practised",
                    "target": "once a day",
                    "due_date": str(date.today() + timedelta(days=30)),
                },
            )
            assert accepted.status_code == 201, accepted.text

            async def quarantined() -> list:
                return (await http.get("/admin/outbox/quarantine")).json()

            [held] = await eventually(quarantined, timeout=30)
            assert "message size exceeds maximum allowed" in held["reason"]
            metrics = (await http.get("/metrics")).text
            assert "rapport_outbox_quarantined 1.0" in metrics
            assert "rapport_outbox_backlog 0.0" in metrics  # nothing else held back

        status, _ = await rapport(running_suite, "status")
        [goals_line] = [line for line in status.splitlines() if line.startswith("goals ")]
        assert "broker=connected" in goals_line and "quarantined=1" in goals_line
        listed, _ = await rapport(running_suite, "quarantine", "list", "--service", "goals")
        assert f"goals:{held['position']} event_id={held['event_id']}" in listed
        assert "message size exceeds maximum allowed" in listed

        position = str(held["position"])
        _, refused = await rapport(
            running_suite, "quarantine", "replay", position, "--service", "goals", ok=False
        )
        assert "409" in refused and "refused again" in refused

        await js.update_stream(dataclasses.replace(config, max_msg_size=-1))
        replayed, _ = await rapport(
            running_suite, "quarantine", "replay", position, "--service", "goals"
        )
        assert json.loads(replayed)["published"] is True
        last = await js.get_last_msg(STREAM, "rapport.northside.goals.goal-agreed")
        assert last.headers["Nats-Msg-Id"] == held["event_id"]
        assert json.loads(last.data)["data"]["goal_id"] == goal_id
        assert await rapport(running_suite, "quarantine", "list", "--service", "goals") == (
            "",
            "",
        )
    finally:
        await nc.close()
