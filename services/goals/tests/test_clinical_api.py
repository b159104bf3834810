"""Clinical depth over HTTP on a real database and nats-server: goal terms and FHIR status,
revisions and history, GAS reviews and T-scores, measures and alliance alerts, recurring
homework with private journals, cancellation, and the missed-homework loop."""

import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid5

from goals_support import (
    CLIENT,
    CLINIC,
    COUNSELOR,
    agreed_homework,
    problem_fields,
    running_goals,
    session_closed,
)

from rapport_devtools.testing import eventually
from rapport_goals.domain.events import HomeworkJournalWritten
from rapport_goals.service_layer import handlers
from rapport_shared.contracts.plan import AgreedGoal, GasLevel
from rapport_shared.persistence.schema import events_table

BASE = f"/clinics/{CLINIC}"
SCALE = [{"level": n, "description": f"level {n}"} for n in (-2, -1, 0, 1, 2)]


def goal_body(**changes):
    return {
        "client_id": CLIENT,
        "counselor_id": COUNSELOR,
        "description": "Sleep by 23:00",
        "measure": "nights",
        "target": "5 a week",
        "due_date": str(date.today() + timedelta(days=60)),
        **changes,
    }


async def post(goals, path, body=None, status=200):
    response = await goals.http.post(f"{BASE}{path}", json=body)
    assert response.status_code == status, response.text
    return response.json()


async def test_goal_terms_status_changes_and_revisions_with_history(database_url, nats_server):
    milestone = {"description": "a week of it", "due_date": str(date.today() + timedelta(days=7))}
    async with running_goals(database_url, nats_server.url) as goals:
        goal = await post(
            goals,
            "/goals",
            goal_body(
                type="emotional",
                horizon="long-term",
                priority="high",
                review_every_days=14,
                milestones=[milestone],
                gas_scale=SCALE,
                gas_weight=2,
            ),
            status=201,
        )
        gid = goal["goal_id"]
        assert (goal["type"], goal["horizon"], goal["priority"], goal["gas_weight"]) == (
            "emotional",
            "long-term",
            "high",
            2.0,
        )
        assert goal["milestones"] == [milestone] and goal["gas_scale"] == SCALE
        assert (goal["lifecycle_status"], goal["achievement_status"]) == ("active", "in-progress")
        assert goal["next_review_due"] == str(date.today() + timedelta(days=14))

        held = await post(goals, f"/goals/{gid}/status", {"lifecycle_status": "on-hold"})
        assert held["lifecycle_status"] == "on-hold"
        refused = await goals.http.post(
            f"{BASE}/goals/{gid}/status", json={"lifecycle_status": "completed"}
        )
        assert refused.status_code == 409 and problem_fields(refused) == ["lifecycle_status"]

        patched = await goals.http.patch(
            f"{BASE}/goals/{gid}", json={"revised_by": COUNSELOR, "target": "6 a week"}
        )
        assert patched.status_code == 200 and patched.json()["target"] == "6 a week"
        new_due = str(date.today() + timedelta(days=90))
        revised = await post(
            goals, f"/goals/{gid}/revise", {"revised_by": COUNSELOR, "due_date": new_due}
        )
        assert revised["due_date"] == new_due and revised["target"] == "6 a week"

        history = (await goals.http.get(f"{BASE}/goals/{gid}/history")).json()
        assert [h["event_type"] for h in history] == [
            "goal-agreed",
            "goal-status-changed",
            "goal-revised",
            "goal-revised",
        ]
        # Versions 2 and 5 are the goal's words (private goal-worded events, not history).
        assert [h["version"] for h in history] == [1, 3, 4, 6]
        assert history[2]["changes"] == {"wording_revised": True}  # the words stay private
        assert history[3]["changes"] == {"due_date": new_due, "wording_revised": False}
        assert history[3]["actor"] == COUNSELOR

        subjects = [s.rsplit(".", 1)[1] for s, _ in await goals.published_count(4)]
        assert subjects == ["goal-agreed", "goal-status-changed", "goal-revised", "goal-revised"]

        before = await goals.stored_event_count()
        late = {**milestone, "due_date": str(date.today() + timedelta(days=100))}
        for path, body, field, method in [
            ("/goals", goal_body(milestones=[late]), "milestones.0.due_date", "post"),
            ("/goals", goal_body(gas_scale=SCALE[:4]), "gas_scale", "post"),
            ("/goals", goal_body(type="spiritual"), "type", "post"),
            ("/goals", goal_body(gas_weight=0), "gas_weight", "post"),
            (f"/goals/{gid}", {"revised_by": COUNSELOR}, "body", "patch"),
            (
                f"/goals/{gid}",
                {"revised_by": COUNSELOR, "due_date": "2020-01-01"},
                "due_date",
                "patch",
            ),
            (f"/goals/{gid}/status", {"lifecycle_status": "done"}, "lifecycle_status", "post"),
        ]:
            response = await goals.http.request(method, f"{BASE}{path}", json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert problem_fields(response) == [field], response.text
        assert await goals.stored_event_count() == before


async def test_reviews_record_gas_levels_and_the_clients_t_score(database_url, nats_server):
    async with running_goals(database_url, nats_server.url) as goals:
        heavy = (await post(goals, "/goals", goal_body(gas_scale=SCALE, gas_weight=2), 201))[
            "goal_id"
        ]
        light = (await post(goals, "/goals", goal_body(gas_scale=SCALE), 201))["goal_id"]
        plain = (await post(goals, "/goals", goal_body(), 201))["goal_id"]

        def review(level=None, status="improving"):
            body = {"achievement_status": status, "reviewed_by": COUNSELOR}
            return body | ({} if level is None else {"attained_level": level})

        for goal_id, body in ((light, review()), (plain, review(0))):
            refused = await goals.http.post(f"{BASE}/goals/{goal_id}/reviews", json=body)
            assert refused.status_code == 422 and problem_fields(refused) == ["attained_level"]
        out_of_scale = await goals.http.post(f"{BASE}/goals/{light}/reviews", json=review(3))
        assert out_of_scale.status_code == 422 and problem_fields(out_of_scale) == [
            "attained_level"
        ]

        await post(goals, f"/goals/{heavy}/reviews", review(-1, "worsening"), 201)
        reviewed = await post(goals, f"/goals/{heavy}/reviews", review(1), 201)
        assert (reviewed["attained_level"], reviewed["achievement_status"]) == (1, "improving")
        await post(goals, f"/goals/{light}/reviews", review(-1, "no-change"), 201)
        await post(goals, f"/goals/{plain}/reviews", review(status="no-progress"), 201)

        progress = (await goals.http.get(f"{BASE}/clients/{CLIENT}/progress")).json()
        # Latest levels +1 (weight 2) and -1 (weight 1): T = 50 + 10 / sqrt(6.2) = 54.02
        assert progress["gas_t_score"] == 54.02
        heavy_progress = (await goals.http.get(f"{BASE}/goals/{heavy}/progress")).json()
        assert [p["level"] for p in heavy_progress["gas_levels"]] == [-1, 1]
        assert heavy_progress["gas_t_score"] == 60.0 and heavy_progress["unrealistic"] is False

        # A goal on hold no longer counts towards the T-score.
        await post(goals, f"/goals/{light}/status", {"lifecycle_status": "on-hold"})
        progress = (await goals.http.get(f"{BASE}/clients/{CLIENT}/progress")).json()
        assert progress["gas_t_score"] == 60.0
        published = await goals.published_count(3 + 4 + 1)
        assert [s.rsplit(".", 1)[1] for s, _ in published[3:7]] == ["goal-reviewed"] * 4


async def test_measures_are_scored_classified_and_a_low_srs_alerts_the_counselor(
    database_url, nats_server
):
    measures = f"/clients/{CLIENT}/measures"
    async with running_goals(database_url, nats_server.url, alliance_threshold=30) as goals:
        # Item 9 (the risk item) at 0: the risk flags it would raise are test_risk_flags.py's.
        phq_items = [3, 3] + [2] * 6 + [0]
        phq = await post(goals, measures, {"instrument": "PHQ-9", "items": phq_items}, 201)
        assert (phq["total"], phq["band"], phq["alliance_alert"]) == (
            18,
            "moderately severe",
            False,
        )
        await post(goals, measures, {"instrument": "GAD-7", "items": [2] * 7}, 201)  # 14
        await post(goals, measures, {"instrument": "PHQ-9", "items": [1] * 8 + [0]}, 201)  # 8
        await post(goals, measures, {"instrument": "GAD-7", "items": [1] * 5 + [0, 0]}, 201)  # 5

        before = await goals.stored_event_count()
        for body, field in [
            ({"instrument": "PHQ-9", "items": [0, 0, 0, 4, 0, 0, 0, 0, 0]}, "items.3"),
            ({"instrument": "GAD-7", "items": [0] * 6}, "items"),
            ({"instrument": "ORS", "items": [5.5, 5, 5, 5]}, "items.0"),
            ({"instrument": "BDI", "items": [1]}, "instrument"),
            ({"instrument": "SRS", "items": [1, 1, 1, 1]}, "counselor_id"),
        ]:
            response = await goals.http.post(f"{BASE}{measures}", json=body)
            assert response.status_code == 422, (body, response.text)
            assert problem_fields(response) == [field], response.text
        assert await goals.stored_event_count() == before

        srs = {"instrument": "SRS", "items": [8, 7, 7, 7], "counselor_id": COUNSELOR}  # 29
        low = await post(goals, measures, srs, 201)
        assert low["alliance_alert"] is True
        fine = await post(goals, measures, srs | {"items": [8, 8, 7, 7]}, 201)  # 30
        assert fine["alliance_alert"] is False

        published = await goals.published_count(4 + 3)
        kinds = [s.rsplit(".", 1)[1] for s, _ in published]
        assert kinds == ["measure-recorded"] * 5 + ["alliance-alert-raised", "measure-recorded"]
        alert = published[5][1].contract
        assert (alert.counselor_id, alert.srs_total, alert.threshold) == (COUNSELOR, 29, 30)

        progress = (await goals.http.get(f"{BASE}/clients/{CLIENT}/progress")).json()
        assert [p["total"] for p in progress["measures"]["PHQ-9"]] == [18, 8]
        assert [p["total"] for p in progress["measures"]["SRS"]] == [29, 30]
        assert progress["change"] == {
            "measures": ["PHQ-9", "GAD-7"],
            "caseness_at_start": True,
            "caseness_now": False,
            "outcome": "reliable improvement",
            "recovered": True,
            "reliably_recovered": True,
        }


async def test_recurring_homework_keeps_the_journal_private_and_can_be_cancelled(
    database_url, nats_server
):
    first = datetime.now(UTC) + timedelta(hours=1)
    daily = {
        "frequency": "daily",
        "time_zone": "Europe/Berlin",
        "until": str((first + timedelta(days=2)).date()),
    }
    async with running_goals(database_url, nats_server.url) as goals:
        homework = await post(
            goals,
            "/homework",
            {
                "client_id": CLIENT,
                "counselor_id": COUNSELOR,
                "instructions": "Mood log",
                "due_at": first.isoformat(),
                "type": "symptom-log",
                "recurrence": daily,
                "reminder_lead_minutes": 30,
            },
            201,
        )
        hid = homework["homework_id"]
        assert (homework["type"], homework["reminder_lead_minutes"]) == ("symptom-log", 30)
        secret = "I argued with my sister again"
        done = await post(goals, f"/homework/{hid}/complete", {"self_rating": 6, "journal": secret})
        assert done["on_time"] is True and done["final"] is False
        assert datetime.fromisoformat(done["due_at"]) == first.replace(
            microsecond=first.microsecond
        )
        listed = (await goals.client_homework(1))[0]
        assert datetime.fromisoformat(listed["next_due_at"]) == first + timedelta(days=1)

        bad = await goals.http.post(f"{BASE}/homework/{hid}/complete", json={"self_rating": 11})
        assert bad.status_code == 422 and problem_fields(bad) == ["self_rating"]

        cancelled = await post(goals, f"/homework/{hid}/cancel")
        assert cancelled["status"] == "cancelled" and cancelled["next_due_at"] is None
        again = await goals.http.post(f"{BASE}/homework/{hid}/cancel")
        assert again.status_code == 409 and problem_fields(again) == ["homework_id"]

        published = await goals.published_count(3)
        assert [s.rsplit(".", 1)[1] for s, _ in published] == [
            "homework-assigned",
            "homework-completed",
            "homework-cancelled",
        ]
        completed = published[1][1].contract
        assert (completed.self_rating, completed.final) == (6, False)
        assert not any(secret.encode() in payload for payload in await goals.published_payloads())
        # The journal is stored, privately, in this service's own store only.
        stored = [row["event_type"] for row in await goals.rows(events_table)]
        assert HomeworkJournalWritten.event_type in stored
        # ... and encrypted there: the store keeps a token, the API reads the words back.
        stored_data = [json.dumps(row["data"]) for row in await goals.rows(events_table)]
        assert not any(secret in data for data in stored_data)
        journal = (await goals.http.get(f"{BASE}/homework/{hid}/journal")).json()
        assert [entry["journal"] for entry in journal] == [secret]

        async def outbox_drained() -> bool:
            return await goals.waiting_to_publish() == 0

        await eventually(outbox_drained)


async def test_past_due_occurrences_are_recorded_missed_and_flag_an_unrealistic_goal(
    database_url, nats_server
):
    now = datetime.now(UTC)
    goal = AgreedGoal(
        description="Walk daily",
        measure="walks",
        target="7 a week",
        due_date=date.today() + timedelta(days=30),
        gas_scale=tuple(GasLevel(level=n, description=f"level {n}") for n in (-2, -1, 0, 1, 2)),
    )
    session = session_closed(
        [goal],
        [
            agreed_homework(now - timedelta(days=2), goal_index=0),
            agreed_homework(now - timedelta(days=1), goal_index=0),
            agreed_homework(now + timedelta(days=5), goal_index=0),
        ],
        closed_at=now - timedelta(days=3),
    )
    goal_id = uuid5(session.session_id, "goal-0")
    async with running_goals(
        database_url, nats_server.url, missed_check_interval_seconds=0.05, missed_grace_hours=0
    ) as goals:
        await goals.publish_session_closed(session)
        published = await goals.published_count(4 + 2)
        missed = [incoming.contract for _, incoming in published[4:]]
        assert {m.event_type for m in missed} == {"homework-missed"}
        assert sorted(m.due_at for m in missed) == [
            now - timedelta(days=2),
            now - timedelta(days=1),
        ]

        # Checking again records nothing twice.
        async with goals.runtime.engine.begin() as conn:
            again = await handlers.record_missed_homework(
                conn, goals.runtime.store, datetime.now(UTC), timedelta(0)
            )
        assert again == 0
        statuses = [h["status"] for h in await goals.client_homework(3)]
        assert statuses == ["missed", "missed", "assigned"]
        late = await goals.http.post(
            f"{BASE}/homework/{uuid5(session.session_id, 'homework-0')}/complete", json={}
        )
        assert late.status_code == 409

        for _ in range(3):
            await post(
                goals,
                f"/goals/{goal_id}/reviews",
                {
                    "attained_level": -1,
                    "achievement_status": "no-progress",
                    "reviewed_by": COUNSELOR,
                },
                201,
            )

        async def flagged():
            progress = (await goals.http.get(f"{BASE}/goals/{goal_id}/progress")).json()
            return progress if progress["unrealistic"] else None

        progress = await eventually(flagged)
        assert progress["adherence"] == {
            "due": 2,
            "completed": 0,
            "on_time": 0,
            "rate": 0.0,
            "on_time_rate": 0.0,
            "streak": 0,
        }
        client = (await goals.http.get(f"{BASE}/clients/{CLIENT}/progress")).json()
        assert client["goals"] == [progress] and client["gas_t_score"] == 40.0
