"""SIGTERM to each service in the middle of traffic: every command that was answered 2xx is
applied exactly once everywhere downstream, and nothing is duplicated."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
import nats

from rapport_devtools.testing import ClinicAdminAuth, eventually

CLINIC = "northside"
CLIENT = "client-sigterm"


async def test_sigterm_mid_traffic_loses_and_duplicates_nothing(running_suite, nats_server):
    s, g, n = (running_suite[k] for k in ("sessions", "goals", "notifications"))
    accepted: list[str] = []  # sessions whose close was answered 200
    stop = asyncio.Event()

    async def traffic() -> None:
        async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=5) as http:
            while not stop.is_set():
                now = datetime.now(UTC)
                try:
                    created = await http.post(
                        f"{s.url}/clinics/{CLINIC}/sessions",
                        json={
                            "client_id": CLIENT,
                            "counselor_id": "dr-okafor",
                            "starts_at": (now - timedelta(hours=1)).isoformat(),
                        },
                    )
                    if created.status_code != 201:
                        continue
                    session_id = created.json()["session_id"]
                    closed = await http.post(
                        f"{s.url}/clinics/{CLINIC}/sessions/{session_id}/close",
                        json={
                            "goals": [
                                {
                                    "description": "Walk",
                                    "measure": "walks",
                                    "target": "3 a week",
                                    "due_date": str(date.today() + timedelta(days=30)),
                                }
                            ],
                            "homework": [
                                {
                                    "instructions": "Log walks",
                                    "goal_index": 0,
                                    "due_at": (now + timedelta(days=3)).isoformat(),
                                }
                            ],
                        },
                    )
                    if closed.status_code == 200:
                        accepted.append(session_id)
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)  # the service is restarting: try again shortly

    load = asyncio.create_task(traffic())
    try:
        for process in (g, n, s):
            count = len(accepted)
            await eventually(_more_than(accepted, count + 5), timeout=30)
            process.stop()  # SIGTERM, then waits for the process to exit
            # uvicorn re-raises the signal after its graceful shutdown, hence -15 not 0.
            assert process.process is None or process.process.returncode in (0, -15)
            assert '"stopped cleanly"' in process.log_path.read_text()
            await asyncio.to_thread(process.start().wait_ready)
        count = len(accepted)
        await eventually(_more_than(accepted, count + 5), timeout=30)
    finally:
        stop.set()
        await load
    assert len(accepted) >= 20

    async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:

        async def homework_count() -> int:
            r = await http.get(f"{g.url}/clinics/{CLINIC}/clients/{CLIENT}/homework")
            return len(r.json())

        async def all_homework_arrived() -> bool:
            return await homework_count() >= len(accepted)

        await eventually(all_homework_arrived, timeout=60)
        homework = (await http.get(f"{g.url}/clinics/{CLINIC}/clients/{CLIENT}/homework")).json()
        assert sorted(h["session_id"] for h in homework) == sorted(accepted)

        async def reminders_arrived() -> bool:
            r = await http.get(f"{n.url}/clinics/{CLINIC}/recipients/{CLIENT}/reminders")
            return len(r.json()["pending"]) >= len(accepted)

        await eventually(reminders_arrived, timeout=60)
        pending = (
            await http.get(f"{n.url}/clinics/{CLINIC}/recipients/{CLIENT}/reminders")
        ).json()["pending"]
        assert sorted(r["homework_id"] for r in pending) == sorted(
            h["homework_id"] for h in homework
        )

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        closes = await js.stream_info("RAPPORT_SESSIONS", subjects_filter=">")
        goals_stream = await js.stream_info("RAPPORT_GOALS")
    finally:
        await nc.close()
    closed_on_bus = closes.state.subjects or {}
    assert closed_on_bus.get(f"rapport.{CLINIC}.sessions.session-closed") == len(accepted)
    assert goals_stream.state.messages == 2 * len(accepted)  # one goal + one homework each


def _more_than(accepted: list[str], count: int):
    async def probe() -> bool:
        return len(accepted) >= count

    return probe
