"""A clinic's outcomes over HTTP, on a real database and nats-server: the small clinic of
test_clinic_outcomes_rules.py (worked by hand there) built through the API, the bus and the
rounds; clinic admins and auditors see the clinic, a counselor their caseload, a client
nothing; no figure names a counselor."""

from datetime import UTC, datetime, timedelta
from typing import Any

from goals_support import CLINIC, COUNSELOR, RunningGoals, goal_body, running_goals, session_closed

from rapport_devtools.testing import bearer, eventually, mint_test_token
from rapport_goals.service_layer import handlers, measure_asks
from rapport_goals.tables import client_homework
from rapport_shared.contracts.plan import AgreedHomework
from rapport_shared.contracts.sessions import SessionStarted

BASE = f"/clinics/{CLINIC}"
SCALE = [{"level": n, "description": f"level {n}"} for n in (-2, -1, 0, 1, 2)]
ITEMS = {"PHQ-9": (9, 3), "GAD-7": (7, 3), "ORS": (4, 10)}


def items(instrument: str, total: int) -> list[int]:
    """Item scores adding up to total, the last (PHQ-9's risk item) left at 0."""
    count, most = ITEMS[instrument]
    return [min(most, max(0, total - most * i)) for i in range(count - 1)] + [0]


async def measure(goals: RunningGoals, client: str, instrument: str, total: int) -> None:
    body = {"instrument": instrument, "items": items(instrument, total)}
    response = await goals.http.post(f"{BASE}/clients/{client}/measures", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["total"] == total


async def gas_level(goals: RunningGoals, client: str, level: int) -> None:
    """One active goal with a GAS scale reviewed at level: a T-score of 50 + 10 * level."""
    goal = await goals.http.post(f"{BASE}/goals", json=goal_body(client_id=client, gas_scale=SCALE))
    assert goal.status_code == 201, goal.text
    review = {"attained_level": level, "achievement_status": "improving", "reviewed_by": COUNSELOR}
    reviewed = await goals.http.post(f"{BASE}/goals/{goal.json()['goal_id']}/reviews", json=review)
    assert reviewed.status_code == 201, reviewed.text


async def homework(goals: RunningGoals, client: str, due: int, completed: int) -> None:
    """due occurrences fallen due an hour ago, completed of them done (late) and the rest
    left to the missed-homework check."""
    now = datetime.now(UTC)
    planned = [AgreedHomework(instructions="log it", due_at=now - timedelta(hours=1))] * due
    await goals.publish_session_closed(
        session_closed(homework=planned, client_id=client, closed_at=now - timedelta(hours=3))
    )
    for item in (await goals.client_homework(due, client_id=client))[:completed]:
        done = await goals.http.post(f"{BASE}/homework/{item['homework_id']}/complete")
        assert done.status_code == 200, done.text


async def asked_and_answered(
    goals: RunningGoals, client: str, instrument: str, totals: list[int | None], t0: datetime
) -> None:
    """A session started per total, each asking for the instrument at its start; a total
    answers it, None leaves it to be missed."""
    plan = {"set_by": COUNSELOR, "schedules": [{"instrument": instrument, "when": "session-start"}]}
    response = await goals.http.put(f"{BASE}/clients/{client}/measurement-plan", json=plan)
    assert response.status_code == 200, response.text
    for n, total in enumerate(totals):
        started = SessionStarted(
            clinic_id=CLINIC,
            session_id=session_closed().session_id,
            client_id=client,
            counselor_id=COUNSELOR,
            started_at=t0 + timedelta(minutes=n),
        )
        await goals.publish_as_sessions(started, f"session-{started.session_id}", t0)
        await _asked(goals, client, n + 1)
        if total is not None:
            await measure(goals, client, instrument, total)


async def _asked(goals: RunningGoals, client: str, n: int) -> None:
    """Waits until n measures were asked of the client."""

    async def probe() -> bool:
        asks = [
            e.contract for _, e in await goals.published() if e.event_type == "measure-requested"
        ]
        return sum(ask.client_id == client for ask in asks) >= n

    await eventually(probe, timeout=15)


def rate(count: int, of: int, value: float | None) -> dict[str, Any]:
    return {"count": count, "of": of, "rate": value}


async def test_a_small_clinic_as_worked_by_hand_and_a_counselors_caseload(
    database_url, nats_server
):
    t0 = datetime.now(UTC)
    period = {
        "from": (t0 - timedelta(days=1)).date().isoformat(),
        "to": (t0 + timedelta(days=1)).date().isoformat(),
    }
    async with running_goals(database_url, nats_server.url) as goals:
        for client in ("ann", "ben", "cat"):
            await goals.publish_care_team(client, COUNSELOR)
        await asked_and_answered(goals, "ann", "PHQ-9", [15, 8], t0)
        await asked_and_answered(goals, "eve", "ORS", [20, 30, None], t0)
        for client, instrument, total in [
            ("ben", "PHQ-9", 12),
            ("ben", "GAD-7", 9),
            ("ben", "PHQ-9", 9),
            ("ben", "GAD-7", 6),
            ("cat", "PHQ-9", 6),
            ("cat", "PHQ-9", 13),
            ("dan", "PHQ-9", 18),
            ("fay", "PHQ-9", 20),
            ("fay", "GAD-7", 15),
            ("fay", "PHQ-9", 12),
            ("fay", "GAD-7", 16),
        ]:
            await measure(goals, client, instrument, total)
        for client, level in [("ann", 0), ("ben", -2), ("dan", 2)]:
            await gas_level(goals, client, level)
        for client, due, completed in [("ann", 5, 4), ("ben", 4, 1), ("dan", 2, 2)]:
            await homework(goals, client, due, completed)
        later = datetime.now(UTC) + timedelta(hours=3)
        async with goals.runtime.transaction() as conn:
            missed = await handlers.record_missed_homework(
                conn, goals.runtime.store, later, timedelta(0)
            )
            assert missed == 4
            # Eve's third ask passes its deadline.
            assert await measure_asks.round_at(conn, goals.runtime.store, later) == (0, 1)
        assert await goals.count(client_homework) == 11

        clinic = await goals.http.get(f"{BASE}/outcomes", params=period)
        assert clinic.status_code == 200, clinic.text
        found = clinic.json()
        assert set(found) == {
            "clinic_id",
            "scope",
            "period_from",
            "period_to",
            "clients",
            "with_first_and_last",
            "reliable_improvement",
            "reliable_deterioration",
            "recovery",
            "reliable_recovery",
            "gas_t_scores",
            "homework_adherence",
            "measures_completed",
        }  # nothing per counselor
        assert found["scope"] == "clinic"
        assert (found["clients"], found["with_first_and_last"]) == (6, 4)
        assert found["reliable_improvement"] == rate(2, 4, 0.5)
        assert found["reliable_deterioration"] == rate(1, 4, 0.25)
        assert found["recovery"] == rate(2, 3, 0.6667)
        assert found["reliable_recovery"] == rate(1, 3, 0.3333)
        assert found["gas_t_scores"] == {
            "below 30": 0,
            "30-39": 1,
            "40-49": 0,
            "50-59": 1,
            "60-69": 0,
            "70 and above": 1,
        }
        assert found["homework_adherence"] == rate(7, 11, 0.6364)
        assert found["measures_completed"] == rate(4, 5, 0.8)
        auditor = bearer(mint_test_token("auditor", CLINIC, "auditor-ada"))
        assert (
            await goals.http.get(f"{BASE}/outcomes", params=period, headers=auditor)
        ).json() == found

        # dr-okafor's caseload: ann, ben and cat.
        counselor = bearer(mint_test_token("counselor", CLINIC, COUNSELOR))
        own = (await goals.http.get(f"{BASE}/outcomes", params=period, headers=counselor)).json()
        assert own["scope"] == "caseload"
        assert (own["clients"], own["with_first_and_last"]) == (3, 3)
        assert own["reliable_improvement"] == rate(1, 3, 0.3333)
        assert own["reliable_deterioration"] == rate(1, 3, 0.3333)
        assert own["recovery"] == rate(2, 2, 1.0)
        assert own["reliable_recovery"] == rate(1, 2, 0.5)
        assert own["homework_adherence"] == rate(5, 9, 0.5556)
        assert own["measures_completed"] == rate(2, 2, 1.0)
        nobody = bearer(mint_test_token("counselor", CLINIC, "dr-new"))
        empty = (await goals.http.get(f"{BASE}/outcomes", params=period, headers=nobody)).json()
        assert (empty["clients"], empty["recovery"]) == (0, rate(0, 0, None))

        client = bearer(mint_test_token("client", CLINIC, "ann"))
        assert (
            await goals.http.get(f"{BASE}/outcomes", params=period, headers=client)
        ).status_code == 403
        before = {"from": "2020-01-01", "to": "2020-01-31"}
        assert (await goals.http.get(f"{BASE}/outcomes", params=before)).json()["clients"] == 0
        backwards = await goals.http.get(
            f"{BASE}/outcomes", params={"from": period["to"], "to": period["from"]}
        )
        assert backwards.status_code == 422, backwards.text
