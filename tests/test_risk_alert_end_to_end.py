"""A PHQ-9 with item 9 answered above 0, through the three services as processes on a real
nats-server, SQLite and a real SMTP server: the counselor is emailed at once although it is
inside their quiet hours and they opted out of risk alerts, the alert points to the safety plan
written in the sessions service, the prep brief shows the flag and the plan, and acknowledging
it in the goals service takes it out of the prep brief and the progress."""

import email
from datetime import UTC, datetime, timedelta
from email.message import Message

import httpx
import pytest

from rapport_devtools.testing import ClinicAdminAuth, eventually

pytestmark = pytest.mark.e2e

CLINIC = "northside"
CLIENT = "client-ana"
COUNSELOR = "dr-okafor"
ADDRESS = "okafor@example.org"


def _text(raw: bytes) -> tuple[str, str]:
    message: Message = email.message_from_bytes(raw)
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(message["Subject"]), payload.decode(part.get_content_charset() or "utf-8")


async def test_a_risk_answer_reaches_the_counselor_at_once_and_stays_until_acknowledged(
    running_suite, smtp
):
    s, g, n = (running_suite[k].url for k in ("sessions", "goals", "notifications"))
    now = datetime.now(UTC)
    # Quiet from an hour ago to two hours from now, in UTC: any ordinary reminder would wait.
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:
        team = await http.put(
            f"{s}/clinics/{CLINIC}/clients/{CLIENT}/care-team", json={"counselor_ids": [COUNSELOR]}
        )
        assert team.status_code == 200, team.text
        counselor = await http.put(
            f"{n}/clinics/{CLINIC}/recipients/{COUNSELOR}",
            json={
                "email": ADDRESS,
                "time_zone": "UTC",
                "quiet_hours": quiet,
                "preferences": {"risk-alert": []},
            },
        )
        assert counselor.status_code == 200, counselor.text
        plan = await http.put(
            f"{s}/clinics/{CLINIC}/clients/{CLIENT}/safety-plan",
            json={
                "written_with_client": True,
                "revised_by": COUNSELOR,
                "plan": {
                    "warning_signs": ["not sleeping"],
                    "professionals_and_crisis_lines": [{"name": "Samaritans", "phone": "116 123"}],
                },
            },
        )
        assert plan.status_code == 200, plan.text

        async def goals_knows_the_team() -> bool:
            r = await http.get(f"{g}/clinics/{CLINIC}/clients/{CLIENT}/progress")
            return r.status_code == 200

        # The flag names whom to alert from the goals service's copy of the care team.
        await eventually(goals_knows_the_team, timeout=20)
        recorded = await http.post(
            f"{g}/clinics/{CLINIC}/clients/{CLIENT}/measures",
            json={"instrument": "PHQ-9", "items": [0, 0, 0, 0, 0, 0, 0, 0, 2]},
        )
        assert recorded.status_code == 201, recorded.text
        assert recorded.json()["total"] == 2  # "minimal" by its total, and still a risk

        [mail] = await eventually(lambda: smtp.to(ADDRESS), timeout=20)
        subject, body = _text(mail)
        assert subject.startswith("Risk alert")
        assert "item 9 of the PHQ-9" in body and "with 2" in body
        assert f"/clinics/{CLINIC}/clients/{CLIENT}/safety-plan" in body

        async def brief() -> dict:
            r = await http.get(f"{s}/clinics/{CLINIC}/clients/{CLIENT}/prep-brief")
            assert r.status_code == 200, r.text
            return r.json()

        async def flagged() -> dict | None:
            found = await brief()
            return found if found["risk_flags"] else None

        shown = await eventually(flagged, timeout=20)
        [flag] = shown["risk_flags"]
        assert (flag["instrument"], flag["item"], flag["score"]) == ("PHQ-9", 9, 2)
        assert shown["safety_plan"]["exists"] is True
        assert shown["safety_plan"]["revision"] == 1

        acknowledged = await http.post(
            f"{g}/clinics/{CLINIC}/clients/{CLIENT}/risk-flags/{flag['flag_id']}/acknowledge",
            json={"acknowledged_by": COUNSELOR},
        )
        assert acknowledged.status_code == 200, acknowledged.text
        again = await http.post(
            f"{g}/clinics/{CLINIC}/clients/{CLIENT}/risk-flags/{flag['flag_id']}/acknowledge",
            json={"acknowledged_by": COUNSELOR},
        )
        assert again.status_code == 409, again.text

        async def cleared() -> bool:
            return not (await brief())["risk_flags"]

        await eventually(cleared, timeout=20)
        progress = await http.get(f"{g}/clinics/{CLINIC}/clients/{CLIENT}/progress")
        assert progress.json()["risk_flags"] == []
        audit = await http.get(f"{g}/clinics/{CLINIC}/audit", params={"client_id": CLIENT})
        assert audit.status_code == 200, audit.text
        # Both attempts are in the audit log: the acknowledgement and the refused second one.
        entries = [e for e in audit.json()["entries"] if e["route"].endswith("/acknowledge")]
        assert [(e["method"], e["status"]) for e in entries] == [("POST", 200), ("POST", 409)]
        assert {e["resource"]["flag_id"] for e in entries} == {flag["flag_id"]}
