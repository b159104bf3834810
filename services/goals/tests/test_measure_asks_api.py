"""Measures on a schedule over HTTP and the bus, on a real database and nats-server: a
counselor sets a client's measurement plan; the sessions service's events (played here) and
the periodic round ask for measures (measure-requested); a recorded measure fulfils the ask, a
passed deadline misses it, a cancelled session withdraws it (measure-ask-closed). The round is
driven with an explicit `now`."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from goals_support import (
    CLIENT,
    CLINIC,
    COUNSELOR,
    RunningGoals,
    problem_fields,
    running_goals,
    session_closed,
)

from rapport_devtools.testing import bearer, eventually, mint_test_token
from rapport_goals.service_layer import measure_asks
from rapport_shared.contracts.goals import MeasureAskClosed, MeasureRequested
from rapport_shared.contracts.sessions import SessionCancelled, SessionScheduled, SessionStarted

BASE = f"/clinics/{CLINIC}"
PLAN = f"{BASE}/clients/{CLIENT}/measurement-plan"
OKAFOR = bearer(mint_test_token("counselor", CLINIC, COUNSELOR))
KIM = bearer(mint_test_token("counselor", CLINIC, "dr-kim"))
ANA = bearer(mint_test_token("client", CLINIC, CLIENT))


async def publish(goals: RunningGoals, event: Any, at: datetime) -> None:
    await goals.publish_as_sessions(event, f"session-{event.session_id}", at)


def scheduled(starts_at: datetime) -> SessionScheduled:
    return SessionScheduled(
        clinic_id=CLINIC,
        session_id=uuid4(),
        client_id=CLIENT,
        counselor_id=COUNSELOR,
        starts_at=starts_at,
    )


async def asked(goals: RunningGoals, n: int) -> list[MeasureRequested]:
    found = await goals.published_of("measure-requested", n)
    assert all(isinstance(ask, MeasureRequested) for ask in found)
    return found  # type: ignore[return-value]


async def closed(goals: RunningGoals, ask_id: UUID) -> MeasureAskClosed:
    async def probe() -> MeasureAskClosed | None:
        for _, incoming in await goals.published():
            event = incoming.contract
            if isinstance(event, MeasureAskClosed) and event.ask_id == ask_id:
                return event
        return None

    return await eventually(probe, timeout=15)


async def ask_round(goals: RunningGoals, now: datetime) -> tuple[int, int]:
    async with goals.runtime.transaction() as conn:
        return await measure_asks.round_at(conn, goals.runtime.store, now)


async def test_the_plan_is_set_by_the_care_team_and_read_by_the_client(database_url, nats_server):
    now = datetime.now(UTC)
    body = {
        "set_by": COUNSELOR,
        "schedules": [
            {"instrument": "PHQ-9", "when": "before-session"},
            {"instrument": "GAD-7", "when": "every-n-days", "every_days": 14},
        ],
        "time_zone": "Europe/London",
        "first_at": (now + timedelta(days=1)).isoformat(),
    }
    async with running_goals(database_url, nats_server.url) as goals:
        await goals.publish_care_team(CLIENT, COUNSELOR)
        assert (await goals.http.get(PLAN)).status_code == 404  # none yet
        assert (await goals.http.put(PLAN, json=body, headers=KIM)).status_code == 403
        assert (await goals.http.put(PLAN, json=body, headers=ANA)).status_code == 403
        for change, field in [
            ({"time_zone": "Mars/Olympus"}, "time_zone"),
            ({"first_at": None}, "first_at"),
            ({"schedules": [{"instrument": "SRS", "when": "session-start"}]}, "schedules.0.when"),
        ]:
            response = await goals.http.put(PLAN, json=body | change, headers=OKAFOR)
            assert response.status_code == 422, (change, response.text)
            assert problem_fields(response) == [field], response.text

        response = await goals.http.put(PLAN, json=body, headers=OKAFOR)
        assert response.status_code == 200, response.text
        read = await goals.http.get(PLAN, headers=ANA)
        assert read.status_code == 200, read.text
        assert read.json() == response.json()
        assert read.json()["schedules"] == [
            {"instrument": "PHQ-9", "when": "before-session", "every_days": None},
            {"instrument": "GAD-7", "when": "every-n-days", "every_days": 14},
        ]
        (plan_set,) = await goals.published_of("measurement-plan-set", 1)
        assert (plan_set.client_id, plan_set.set_by, plan_set.time_zone) == (
            CLIENT,
            COUNSELOR,
            "Europe/London",
        )


async def test_sessions_and_the_round_ask_and_each_ask_is_fulfilled_missed_or_withdrawn(
    database_url, nats_server
):
    t0 = datetime.now(UTC).replace(microsecond=0)
    plan = {
        "set_by": COUNSELOR,
        "schedules": [
            {"instrument": "PHQ-9", "when": "before-session"},
            {"instrument": "ORS", "when": "session-start"},
            {"instrument": "SRS", "when": "session-end"},
            {"instrument": "GAD-7", "when": "every-n-days", "every_days": 7},
        ],
        "time_zone": "America/New_York",
        "first_at": (t0 + timedelta(hours=1)).isoformat(),
    }
    async with running_goals(database_url, nats_server.url) as goals:
        response = await goals.http.put(PLAN, json=plan)
        assert response.status_code == 200, response.text

        # Before the session: asked a day ahead, due when it starts.
        upcoming = scheduled(t0 + timedelta(hours=36))
        await publish(goals, upcoming, t0)
        (phq,) = await asked(goals, 1)
        assert (phq.instrument, phq.timing, phq.session_id) == (
            "PHQ-9",
            "before-session",
            upcoming.session_id,
        )
        assert (phq.ask_at, phq.due_at) == (t0 + timedelta(hours=12), upcoming.starts_at)
        # A redelivered session-scheduled (another event id) asks nothing twice.
        await publish(goals, upcoming, t0)
        # The client fills it in early: it answers the ask.
        items = {"instrument": "PHQ-9", "items": [1] * 8 + [0]}
        measure = await goals.http.post(f"{BASE}/clients/{CLIENT}/measures", json=items)
        fulfilled = await closed(goals, phq.ask_id)
        assert (fulfilled.outcome, str(fulfilled.measure_id)) == (
            "fulfilled",
            measure.json()["measure_id"],
        )

        # At the start: the ORS, due at once; not filled in by its deadline, it is missed.
        started = SessionStarted(
            clinic_id=CLINIC,
            session_id=upcoming.session_id,
            client_id=CLIENT,
            counselor_id=COUNSELOR,
            started_at=t0,
        )
        await publish(goals, started, t0)
        ors = (await asked(goals, 2))[1]
        assert (ors.instrument, ors.due_at, ors.deadline) == ("ORS", t0, t0 + timedelta(hours=2))
        # A session scheduled and cancelled: its ask is withdrawn.
        cancelled = scheduled(t0 + timedelta(days=3))
        await publish(goals, cancelled, t0)
        withdrawn_ask = (await asked(goals, 3))[2]
        await publish(
            goals,
            SessionCancelled(
                clinic_id=CLINIC,
                session_id=cancelled.session_id,
                client_id=CLIENT,
                counselor_id=COUNSELOR,
                cancelled_at=t0,
                reason="client-request",
            ),
            t0,
        )
        assert (await closed(goals, withdrawn_ask.ask_id)).outcome == "withdrawn"
        # At the end: the SRS (read with the session's plan, by goals-plans).
        await goals.publish_session_closed(session_closed(closed_at=t0))
        srs = (await asked(goals, 4))[3]
        assert (srs.instrument, srs.timing) == ("SRS", "session-end")

        # The round, three hours on: the first every-n-days ask, and the ORS missed.
        assert await ask_round(goals, t0 + timedelta(hours=3)) == (1, 1)
        gad = (await asked(goals, 5))[4]
        assert (gad.instrument, gad.timing, gad.due_at) == (
            "GAD-7",
            "every-n-days",
            t0 + timedelta(hours=1),
        )
        missed = await closed(goals, ors.ask_id)
        assert (missed.outcome, missed.closed_at, missed.measure_id) == (
            "missed",
            ors.deadline,
            None,
        )
        progress = (await goals.http.get(f"{BASE}/clients/{CLIENT}/progress")).json()
        assert [(a["instrument"], a["status"]) for a in progress["measure_asks"]] == [
            ("ORS", "missed"),
            ("SRS", "open"),
            ("GAD-7", "open"),
        ]
        # Again at the same moment: nothing more to ask or miss.
        assert await ask_round(goals, t0 + timedelta(hours=3)) == (0, 0)
        # A week on: the next GAD-7, at the same local time; the first missed, and the SRS.
        assert await ask_round(goals, t0 + timedelta(days=7, hours=2)) == (1, 2)
        assert (await asked(goals, 6))[5].due_at == t0 + timedelta(days=7, hours=1)
        assert (await closed(goals, gad.ask_id)).outcome == "missed"
        assert (await closed(goals, srs.ask_id)).outcome == "missed"
        # The plan changed without the every-n-days GAD-7: its open ask is withdrawn.
        plan["schedules"] = plan["schedules"][:3]
        assert (await goals.http.put(PLAN, json=plan)).status_code == 200
        dropped = (await asked(goals, 6))[5]
        assert (await closed(goals, dropped.ask_id)).outcome == "withdrawn"
        # Nothing was asked twice (the redelivered session-scheduled included).
        asks = [e for _, e in await goals.published() if e.event_type == "measure-requested"]
        assert len(asks) == len({e.contract.ask_id for e in asks}) == 6
        # A rebuild of the read model reaches the rows the live path wrote.
        live = await goals.projection_rows()
        assert len(live["measure_asks"]) == 6
        rebuilt = await goals.http.post("/admin/projections/progress/rebuild")
        assert rebuilt.status_code == 200, rebuilt.text
        assert await goals.projection_rows() == live
