"""From a session's close to the reminder cancelled by the completed homework, across the three
services running as separate processes on a real nats-server, SQLite and a real SMTP server."""

import json
from datetime import UTC, date, datetime, timedelta

import httpx
import nats
import pytest

from rapport_devtools.testing import ClinicAdminAuth, eventually

pytestmark = pytest.mark.e2e

CLINIC = "northside"
CLIENT = "client-ana"


async def test_session_close_to_cancelled_reminder(running_suite, smtp, nats_server):
    s, g, n = (running_suite[k].url for k in ("sessions", "goals", "notifications"))
    now = datetime.now(UTC)
    async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:
        put = await http.put(
            f"{n}/clinics/{CLINIC}/recipients/{CLIENT}", json={"email": "ana@example.org"}
        )
        assert put.status_code == 200, put.text

        created = await http.post(
            f"{s}/clinics/{CLINIC}/sessions",
            json={
                "client_id": CLIENT,
                "counselor_id": "dr-okafor",
                "starts_at": (now - timedelta(hours=1)).isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        session_id = created.json()["session_id"]
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        tracing = {
            "X-Correlation-Id": "corr-e2e-close",
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        }
        closed = await http.post(
            f"{s}/clinics/{CLINIC}/sessions/{session_id}/close",
            headers=tracing,
            json={
                "next_session_at": (now + timedelta(days=7)).isoformat(),
                "goals": [
                    {
                        "description": "Walk three times a week",
                        "measure": "walks logged",
                        "target": "3 per week",
                        "due_date": str(date.today() + timedelta(days=60)),
                    }
                ],
                "homework": [
                    {
                        "instructions": "Log each walk and your mood",
                        "due_at": (now + timedelta(days=3)).isoformat(),
                        "goal_index": 0,
                    }
                ],
            },
        )
        assert closed.status_code == 200, closed.text

        async def homework():
            r = await http.get(f"{g}/clinics/{CLINIC}/clients/{CLIENT}/homework")
            return r.json() if r.status_code == 200 and r.json() else None

        [assigned] = await eventually(homework, timeout=20)
        assert assigned["session_id"] == session_id

        async def reminders():
            r = await http.get(f"{n}/clinics/{CLINIC}/recipients/{CLIENT}/reminders")
            return r.json() if r.status_code == 200 else None

        async def pending_reminder():
            body = await reminders()
            due = [r for r in body["pending"] if r["kind"] == "homework-due"] if body else []
            return due or None

        # (The close's next_session_at also schedules a next-session reminder.)
        [reminder] = await eventually(pending_reminder, timeout=20)
        assert reminder["homework_id"] == assigned["homework_id"]
        assert reminder["kind"] == "homework-due"

        async def notes_with_homework():
            r = await http.get(f"{s}/clinics/{CLINIC}/clients/{CLIENT}/notes")
            sessions = r.json()["sessions"] if r.status_code == 200 else []
            return sessions if sessions and sessions[0]["homework"] else None

        [noted] = await eventually(notes_with_homework, timeout=20)
        assert noted["session_id"] == session_id
        assert [h["homework_id"] for h in noted["homework"]] == [assigned["homework_id"]]
        assert len(noted["goals"]) == 1

        done = await http.post(
            f"{g}/clinics/{CLINIC}/homework/{assigned['homework_id']}/complete", json={}
        )
        assert done.status_code == 200, done.text
        assert done.json()["on_time"] is True

        async def cancelled():
            body = await reminders()
            return body if body and body["cancelled"] and body["sent"] else None

        body = await eventually(cancelled, timeout=20)
        assert [r["reminder_id"] for r in body["cancelled"]] == [reminder["reminder_id"]]
        assert [r["kind"] for r in body["pending"]] == ["next-session"]
        [recognition] = body["sent"]
        assert recognition["kind"] == "recognition"

        mail = await eventually(lambda: _mail_to(smtp, "ana@example.org"), timeout=20)
        assert len(mail) == 1  # the recognition only: the cancelled reminder never went out

        async def completed_in_notes():
            r = await http.get(f"{s}/clinics/{CLINIC}/clients/{CLIENT}/notes")
            [entry] = r.json()["sessions"]
            return entry["homework"][0]["completed_at"]

        assert await eventually(completed_in_notes, timeout=20)
        progress = await http.get(f"{g}/clinics/{CLINIC}/goals/{assigned['goal_id']}/progress")
        assert progress.json()["homework_completed"] == 1
        assert progress.json()["completed_on_time"] == 1

    # The close's correlation id and trace reached every service that handled its consequences.
    for service in ("sessions", "goals", "notifications"):
        assert "corr-e2e-close" in running_suite[service].log_path.read_text(), service
    nc = await nats.connect(nats_server.url)
    try:
        assigned_msg = await nc.jetstream().get_last_msg(
            "RAPPORT_GOALS", f"rapport.{CLINIC}.goals.homework-assigned"
        )
    finally:
        await nc.close()
    assert assigned_msg.headers["traceparent"].split("-")[1] == trace_id
    assert json.loads(assigned_msg.data)["correlationid"] == "corr-e2e-close"

    async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:
        metrics = (await http.get(f"{n}/metrics")).text
    assert 'rapport_reminders{channel="email",status="sent"} 1.0' in metrics


async def _mail_to(smtp, address):
    return smtp.to(address)
