"""Risk flags over HTTP on a real database and nats-server: PHQ-9 item 9 raises a flag for the
care team and the clinic's chosen admins under the clinic's risk settings, on the bus and in the
client's progress until a counselor on the care team acknowledges it (once, audited); and each
instrument's classification in the progress view, with the rules that produced it."""

from typing import Any

import httpx
from goals_support import CLIENT, CLINIC, RunningGoals, problem_fields, running_goals

from rapport_devtools.testing import bearer, eventually, mint_test_token

BASE = f"/clinics/{CLINIC}"
OKAFOR = bearer(mint_test_token("counselor", CLINIC, "dr-okafor"))
KIM = bearer(mint_test_token("counselor", CLINIC, "dr-kim"))  # not on the care team
AUDITOR = bearer(mint_test_token("auditor", CLINIC, "auditor-ada"))
ANA = bearer(mint_test_token("client", CLINIC, CLIENT))


def phq9(item9: int) -> dict[str, Any]:
    return {"instrument": "PHQ-9", "items": [0] * 8 + [item9]}


async def record(goals: RunningGoals, body: dict[str, Any], client: str = CLIENT) -> str:
    response = await goals.http.post(f"{BASE}/clients/{client}/measures", json=body)
    assert response.status_code == 201, response.text
    measure_id: str = response.json()["measure_id"]
    return measure_id


async def progress(goals: RunningGoals, client: str = CLIENT) -> dict[str, Any]:
    response = await goals.http.get(f"{BASE}/clients/{client}/progress")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def put_settings(goals: RunningGoals, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return await goals.http.put(f"{BASE}/risk-settings", json=body, **kw)


async def test_item_9_at_0_1_and_3_raises_0_1_and_1_flags_for_the_team_and_chosen_admins(
    database_url, nats_server
):
    async with running_goals(database_url, nats_server.url) as goals:
        await goals.publish_care_team(CLIENT, "dr-okafor", "dr-lee")
        response = await put_settings(goals, {"admin_ids": ["admin-ola"]})
        assert response.json() == {
            "threshold": 1,
            "alert_care_team": True,
            "admin_ids": ["admin-ola"],
        }
        measures = [await record(goals, phq9(score)) for score in (0, 1, 3)]

        flags = await goals.published_of("risk-flag-raised", 2)
        published = [e.event_type for _, e in await goals.published()]
        assert published == [
            "measure-recorded",
            "measure-recorded",
            "risk-flag-raised",
            "measure-recorded",
            "risk-flag-raised",
        ]
        assert [(str(f.measure_id), f.item, f.score, f.threshold) for f in flags] == [
            (measures[1], 9, 1, 1),
            (measures[2], 9, 3, 1),
        ]
        for flag in flags:
            assert flag.alert_recipient_ids == ("dr-lee", "dr-okafor", "admin-ola")
            assert (flag.client_id, flag.instrument) == (CLIENT, "PHQ-9")

        shown = (await progress(goals))["risk_flags"]
        assert [(f["flag_id"], f["item"], f["score"]) for f in shown] == [
            (str(flag.flag_id), 9, flag.score) for flag in flags
        ]
        assert shown[0]["acknowledged_at"] is None


async def test_the_clinics_threshold_and_recipients_decide_the_flags(database_url, nats_server):
    async with running_goals(database_url, nats_server.url) as goals:
        # Nobody set them: the defaults, readable by the clinic's staff, not by a client.
        for headers in (OKAFOR, AUDITOR):
            response = await goals.http.get(f"{BASE}/risk-settings", headers=headers)
            assert response.json() == {"threshold": 1, "alert_care_team": True, "admin_ids": []}
        assert (await goals.http.get(f"{BASE}/risk-settings", headers=ANA)).status_code == 403
        # Only a clinic admin sets them, and only to something that alerts someone.
        refused = await put_settings(goals, {"threshold": 2}, headers=OKAFOR)
        assert refused.status_code == 403, refused.text
        for body, field in [
            ({"threshold": 4}, "threshold"),
            ({"threshold": True}, "threshold"),
            ({"alert_care_team": False}, "alert_care_team"),
        ]:
            response = await put_settings(goals, body)
            assert response.status_code == 422, (body, response.text)
            assert problem_fields(response) == [field], response.text

        response = await put_settings(
            goals, {"threshold": 2, "alert_care_team": False, "admin_ids": ["admin-ola"]}
        )
        assert response.status_code == 200, response.text
        await goals.publish_care_team(CLIENT, "dr-okafor")
        await record(goals, phq9(1))  # under the threshold now
        flagged = await record(goals, phq9(2))

        (flag,) = await goals.published_of("risk-flag-raised", 1)
        assert (str(flag.measure_id), flag.score, flag.threshold) == (flagged, 2, 2)
        assert flag.alert_recipient_ids == ("admin-ola",)  # the care team is not alerted
        assert [e.event_type for _, e in await goals.published()].count("risk-flag-raised") == 1


async def test_a_counselor_on_the_team_acknowledges_a_flag_once_and_it_is_audited(
    database_url, nats_server
):
    async with running_goals(database_url, nats_server.url) as goals:
        await goals.publish_care_team(CLIENT, "dr-okafor")
        await goals.publish_care_team("client-ben", "dr-okafor")
        await record(goals, phq9(3))
        await record(goals, phq9(2), client="client-ben")
        (flag,) = [
            f for f in await goals.published_of("risk-flag-raised", 2) if f.client_id == CLIENT
        ]
        path = f"{BASE}/clients/{CLIENT}/risk-flags/{flag.flag_id}/acknowledge"

        async def acknowledge(by: str, headers: dict[str, str], at: str = path) -> httpx.Response:
            return await goals.http.post(at, json={"acknowledged_by": by}, headers=headers)

        assert (await acknowledge("dr-kim", KIM)).status_code == 403  # not on the team
        assert (await acknowledge("dr-lee", OKAFOR)).status_code == 403  # in another's name
        assert (await acknowledge(CLIENT, ANA)).status_code == 403
        ben_path = path.replace(CLIENT, "client-ben")
        assert (await acknowledge("dr-okafor", OKAFOR, ben_path)).status_code == 404
        assert len((await progress(goals))["risk_flags"]) == 1

        done = await acknowledge("dr-okafor", OKAFOR)
        assert done.status_code == 200, done.text
        assert (done.json()["flag_id"], done.json()["acknowledged_by"]) == (
            str(flag.flag_id),
            "dr-okafor",
        )
        again = await acknowledge("dr-okafor", OKAFOR)
        assert again.status_code == 409, again.text
        assert problem_fields(again) == ["flag_id"]

        (acknowledged,) = await goals.published_of("risk-flag-acknowledged", 1)
        assert (acknowledged.flag_id, acknowledged.acknowledged_by) == (flag.flag_id, "dr-okafor")
        assert (await progress(goals))["risk_flags"] == []
        assert len((await progress(goals, "client-ben"))["risk_flags"]) == 1

        async def audited() -> list[dict[str, Any]] | None:
            response = await goals.http.get(
                f"{BASE}/audit", params={"sub": "dr-okafor"}, headers=AUDITOR
            )
            page = response.json()["entries"]
            entries = [e for e in page if e["route"].endswith("/acknowledge")]
            return entries if len(entries) == 4 else None

        entries = await eventually(audited)
        assert sorted(e["status"] for e in entries) == [200, 403, 404, 409]
        assert {e["resource"]["flag_id"] for e in entries} == {str(flag.flag_id)}


async def test_each_instrument_is_classified_with_its_rules_and_a_change_needs_two(
    database_url, nats_server
):
    async with running_goals(database_url, nats_server.url) as goals:
        await record(goals, {"instrument": "PHQ-9", "items": [2] * 6 + [0] * 3})  # 12
        await record(goals, {"instrument": "ORS", "items": [5, 5, 5, 5]})  # 20: a case
        one = await progress(goals)
        assert one["change"] is None  # one PHQ-9: no change yet
        phq = one["classifications"]["PHQ-9"]
        assert (phq["measurements"], phq["change"], phq["outcome"], phq["recovery"]) == (
            1,
            None,
            "not applicable",
            "not applicable",
        )
        assert "a change needs two measurements" in phq["rules"]
        assert one["classifications"]["ORS"]["case_now"] is True

        await record(goals, {"instrument": "PHQ-9", "items": [1] * 5 + [0] * 4})  # 5
        await record(goals, {"instrument": "ORS", "items": [6, 6, 6, 6]})  # 24: still a case
        await record(goals, {"instrument": "ORS", "items": [7, 6, 6, 6]})  # 25: at the cutoff
        two = await progress(goals)
        assert two["change"]["outcome"] == "reliable improvement"
        assert two["classifications"]["PHQ-9"]["reliable_recovery"] == "recovered"
        ors = two["classifications"]["ORS"]
        assert (ors["first_total"], ors["latest_total"], ors["change"]) == (20, 25, 5)
        assert (ors["case_at_start"], ors["case_now"]) == (True, False)
        assert (ors["outcome"], ors["recovery"], ors["reliable_recovery"]) == (
            "reliable improvement",
            "recovered",
            "recovered",
        )
        assert ors["rules"][0] == "ORS case: total below 25"
        assert "SRS" not in two["classifications"]
