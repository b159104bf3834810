"""An event committed but not yet published when its process is killed still reaches the
consumers after a restart: the outbox row survives the crash and the relay resumes."""

from datetime import UTC, datetime, timedelta

import httpx
import nats
from suite_env import suite_env

from rapport_devtools.localsuite import service_processes
from rapport_devtools.natsserver import NatsServer, free_port
from rapport_devtools.testing import ClinicAdminAuth, eventually


async def test_event_committed_before_a_crash_is_published_after_restart(tmp_path, smtp):
    broker = NatsServer(tmp_path / "nats")  # not started yet: nothing can be published
    processes = service_processes(
        suite_env(tmp_path, broker.url, smtp),
        tmp_path / "logs",
        ports={name: free_port() for name in ("sessions", "goals", "notifications")},
    )
    goals, notifications = processes["goals"], processes["notifications"]
    try:
        goals.start().wait_ready(path="/healthz")
        async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:
            assigned = await http.post(
                f"{goals.url}/clinics/northside/homework",
                json={
                    "client_id": "client-ben",
                    "counselor_id": "dr-okafor",
                    "instructions": "Write down three things that went well today",
                    "due_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
                },
            )
            assert assigned.status_code == 201, assigned.text
            homework_id = assigned.json()["homework_id"]
            goals.kill()  # SIGKILL while the event sits in the outbox

            broker.start()
            goals.start().wait_ready()
            notifications.start().wait_ready()

            async def scheduled():
                r = await http.get(
                    f"{notifications.url}/clinics/northside/recipients/client-ben/reminders"
                )
                return r.json()["pending"] if r.status_code == 200 else None

            [reminder] = await eventually(scheduled, timeout=30)
            assert reminder["homework_id"] == homework_id

        nc = await nats.connect(broker.url)
        try:
            info = await nc.jetstream().stream_info("RAPPORT_GOALS")
            assert info.state.messages == 1  # published once, not lost, not doubled
        finally:
            await nc.close()
    finally:
        for process in processes.values():
            process.stop()
        broker.stop()
