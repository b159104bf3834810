"""The session-prep brief, fed by goals events published on a real RAPPORT_GOALS stream (out of
order and duplicated) and by the client's safety plan, and rebuilt equal to live."""

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sessions_support import (
    CLINIC,
    OTHER_CLINIC,
    GoalsProducer,
    RunningService,
    damage_projection,
    instant,
    plan,
)

from rapport_devtools.testing import eventually
from rapport_shared.contracts.goals import (
    AllianceAlertRaised,
    GoalAgreed,
    GoalReviewed,
    GoalRevised,
    GoalStatusChanged,
    HomeworkAssigned,
    HomeworkCancelled,
    HomeworkCompleted,
    HomeworkMissed,
    MeasureAskClosed,
    MeasureRecorded,
    MeasureRequested,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from rapport_shared.contracts.plan import derived_id

SOAP = {"subjective": "s", "objective": "o", "assessment": "a", "plan": "review the sleep diary"}


def agreed(goal_id: UUID, at: datetime, session_id: UUID | None) -> GoalAgreed:
    return GoalAgreed(
        clinic_id=CLINIC,
        goal_id=goal_id,
        client_id="alice",
        counselor_id="kim",
        session_id=session_id,
        due_date=date(2030, 1, 31),
        agreed_at=at,
    )


def assigned(homework_id: UUID, goal_id: UUID | None, due_at: datetime) -> HomeworkAssigned:
    return HomeworkAssigned(
        clinic_id=CLINIC,
        homework_id=homework_id,
        goal_id=goal_id,
        client_id="alice",
        counselor_id="kim",
        due_at=due_at,
        assigned_at=due_at - timedelta(days=2),
    )


def done(
    homework_id: UUID, goal_id: UUID | None, due_at: datetime, rating: int
) -> HomeworkCompleted:
    return HomeworkCompleted(
        clinic_id=CLINIC,
        homework_id=homework_id,
        goal_id=goal_id,
        client_id="alice",
        due_at=due_at,
        completed_at=due_at - timedelta(hours=1),
        self_rating=rating,
    )


def measure(instrument: Any, total: int, at: datetime) -> MeasureRecorded:
    return MeasureRecorded(
        clinic_id=CLINIC,
        measure_id=uuid4(),
        client_id="alice",
        instrument=instrument,
        items=(),
        total=total,
        recorded_at=at,
    )


async def test_the_prep_brief_picks_up_where_the_last_session_left_off(
    service: RunningService, goals: GoalsProducer
) -> None:
    empty = (await service.http.get(f"/clinics/{CLINIC}/clients/alice/prep-brief")).json()
    assert empty == {
        "client_id": "alice",
        "since": None,
        "last_session": None,
        "goals": [],
        "homework": [],
        "measures": [],
        "alliance_alert": None,
        "safety_plan": {"exists": False, "revision": None, "last_changed_at": None},
        "risk_flags": [],
        "measures_due": [],
        "measures_missed": [],
    }
    session = await service.schedule("alice")
    base = f"/clinics/{CLINIC}/sessions/{session['session_id']}"
    await service.http.post(f"{base}/notes", json={"format": "SOAP", "sections": SOAP})
    closing = plan(goals=2, homework_goal_index=0)
    closed = (await service.http.post(f"{base}/close", json=closing)).json()
    await service.schedule("alice")  # the next one, still scheduled
    t = instant(closed["closed_at"])
    s1 = UUID(session["session_id"])

    # The goals and the first homework of the plan (ids derived from the session, as the goals
    # service derives them); h2 and h3 were assigned outside it, so their words are not known.
    g1, g2 = derived_id(s1, "goal", 0), derived_id(s1, "goal", 1)
    h1, h2, h3 = derived_id(s1, "homework", 0), uuid4(), uuid4()
    bobs_goal, elsewhere_goal = uuid4(), uuid4()
    revised = GoalRevised(
        clinic_id=CLINIC,
        goal_id=g1,
        client_id="alice",
        revised_at=t + timedelta(days=1),
        revised_by="kim",
        wording_revised=True,
    )
    events = [
        revised,  # before the goal it revises
        agreed(g1, t, s1),
        agreed(g2, t, s1),
        GoalStatusChanged(
            clinic_id=CLINIC,
            goal_id=g2,
            client_id="alice",
            changed_at=t + timedelta(days=2),
            lifecycle_status="completed",
            achievement_status="achieved",
        ),
        GoalReviewed(
            clinic_id=CLINIC,
            goal_id=g1,
            client_id="alice",
            counselor_id="kim",
            reviewed_at=t + timedelta(days=3),
            attained_level=1,
            achievement_status="improving",
        ),
        done(h1, g1, t + timedelta(days=2), 7),  # before its assignment
        assigned(h1, g1, t + timedelta(days=2)),
        assigned(h2, g1, t + timedelta(days=3)),
        HomeworkMissed(
            clinic_id=CLINIC,
            homework_id=h2,
            goal_id=g1,
            client_id="alice",
            due_at=t + timedelta(days=3),
            recorded_at=t + timedelta(days=3, minutes=5),
        ),
        assigned(h3, None, t - timedelta(days=5)),
        done(h3, None, t - timedelta(days=5), 2),  # before the last session: not shown
        HomeworkCancelled(clinic_id=CLINIC, homework_id=h3, client_id="alice", cancelled_at=t),
        measure("PHQ-9", 18, t - timedelta(days=7)),
        measure("PHQ-9", 11, t + timedelta(days=4)),
        measure("SRS", 29, t),
        AllianceAlertRaised(
            clinic_id=CLINIC,
            alert_id=uuid4(),
            measure_id=uuid4(),
            client_id="alice",
            counselor_id="kim",
            srs_total=29,
            threshold=36,
            raised_at=t,
        ),
        agreed(bobs_goal, t, None).model_copy(update={"client_id": "bob"}),
        agreed(elsewhere_goal, t, None).model_copy(update={"clinic_id": OTHER_CLINIC}),
    ]
    first_id = ""
    for event in events:
        event_id = await goals.publish(event)
        first_id = first_id or event_id
    await goals.publish(revised, event_id=first_id)  # a redelivered copy
    await goals.publish(events[6])  # the same assignment republished under a new id

    consumer = service.runtime.consumers[0]

    async def caught_up() -> bool:
        return consumer.applied >= len(events) + 1

    await eventually(caught_up)
    url = f"/clinics/{CLINIC}/clients/alice/prep-brief"
    brief = (await service.http.get(url)).json()

    assert instant(brief["since"]) == t
    last = brief["last_session"]
    assert (last["session_id"], last["note_plan"]) == (str(s1), "review the sleep diary")
    assert [g["description"] for g in last["goals"]] == [g["description"] for g in closing["goals"]]
    assert instant(last["next_session_at"]) == instant(closing["next_session_at"])

    (goal,) = brief["goals"]  # g2 is completed: not open
    # The words are the agreed ones (sessions' own record); the revision marks it revised.
    assert {k: goal[k] for k in ("goal_id", "description", "target", "gas_level", "revised")} == {
        "goal_id": str(g1),
        "description": closing["goals"][0]["description"],
        "target": closing["goals"][0]["target"],
        "gas_level": 1,
        "revised": True,
    }
    assert (goal["achievement_status"], goal["homework_done"], goal["homework_missed"]) == (
        "improving",
        1,
        1,
    )
    assert [
        (h["homework_id"], h["outcome"], h["self_rating"], h["instructions"])
        for h in brief["homework"]
    ] == [
        (str(h1), "done", 7, closing["homework"][0]["instructions"]),
        (str(h2), "missed", None, None),
    ]
    assert [
        (m["instrument"], m["total"], m["previous_total"], m["change"]) for m in brief["measures"]
    ] == [
        ("PHQ-9", 11, 18, -7),
        ("SRS", 29, None, None),
    ]
    assert (brief["alliance_alert"]["srs_total"], brief["alliance_alert"]["threshold"]) == (29, 36)
    bob = (await service.http.get(f"/clinics/{CLINIC}/clients/bob/prep-brief")).json()
    # Goals agreed outside a session are open goals too, each in its own client's brief.
    # (their words were never known here).
    assert [(g["goal_id"], g["description"]) for g in bob["goals"]] == [(str(bobs_goal), "")]
    elsewhere = (await service.http.get(f"/clinics/{OTHER_CLINIC}/clients/alice/prep-brief")).json()
    assert [g["goal_id"] for g in elsewhere["goals"]] == [str(elsewhere_goal)]

    live_rows = await service.projection_rows()
    await damage_projection(service)
    await service.runtime.rebuild("notes")
    assert await service.projection_rows() == live_rows
    assert (await service.http.get(url)).json() == brief


def flag_raised(flag_id: UUID, score: int, at: datetime) -> RiskFlagRaised:
    return RiskFlagRaised(
        clinic_id=CLINIC,
        flag_id=flag_id,
        measure_id=uuid4(),
        client_id="alice",
        instrument="PHQ-9",
        item=9,
        score=score,
        threshold=1,
        alert_recipient_ids=("kim",),
        raised_at=at,
    )


def acknowledged(flag_id: UUID, at: datetime) -> RiskFlagAcknowledged:
    return RiskFlagAcknowledged(
        clinic_id=CLINIC,
        flag_id=flag_id,
        client_id="alice",
        acknowledged_by="kim",
        acknowledged_at=at,
    )


def asked(instrument: Any, timing: Any, due_at: datetime) -> MeasureRequested:
    return MeasureRequested(
        clinic_id=CLINIC,
        ask_id=uuid4(),
        client_id="alice",
        instrument=instrument,
        timing=timing,
        ask_at=due_at - timedelta(days=1),
        due_at=due_at,
        deadline=due_at + timedelta(hours=2),
    )


def ask_closed(ask: MeasureRequested, outcome: Any) -> MeasureAskClosed:
    return MeasureAskClosed(
        clinic_id=CLINIC,
        ask_id=ask.ask_id,
        client_id="alice",
        instrument=ask.instrument,
        outcome=outcome,
        closed_at=ask.deadline,
    )


async def test_the_brief_shows_the_safety_plan_open_risk_flags_and_measures_due_and_missed(
    service: RunningService, goals: GoalsProducer
) -> None:
    session = await service.schedule("alice")
    closed = await service.http.post(
        f"/clinics/{CLINIC}/sessions/{session['session_id']}/close", json=plan()
    )
    t = instant(closed.json()["closed_at"])
    safety_plan = f"/clinics/{CLINIC}/clients/alice/safety-plan"
    body = {"written_with_client": True, "revised_by": "kim", "plan": {"warning_signs": ["x"]}}
    assert (await service.http.put(safety_plan, json=body)).is_success
    revised = (await service.http.put(safety_plan, json=body)).json()

    open_flag, seen_flag, unknown_flag = uuid4(), uuid4(), uuid4()
    before_session = asked("PHQ-9", "before-session", t + timedelta(days=6))
    every_few_days = asked("GAD-7", "every-n-days", t + timedelta(days=3))
    at_the_start = asked("ORS", "session-start", t + timedelta(days=1))
    missed_before = asked("GAD-7", "every-n-days", t - timedelta(days=3))
    missed_late_news = asked("PHQ-9", "every-n-days", t + timedelta(days=2))
    withdrawn = asked("ORS", "session-start", t + timedelta(days=4))
    events = [
        flag_raised(open_flag, 3, t + timedelta(days=1)),
        acknowledged(seen_flag, t + timedelta(days=2, hours=1)),  # before its raising
        flag_raised(seen_flag, 1, t + timedelta(days=2)),
        acknowledged(unknown_flag, t),  # its raising never came
        before_session,
        every_few_days,
        ask_closed(every_few_days, "missed"),
        at_the_start,
        ask_closed(at_the_start, "fulfilled"),
        missed_before,
        ask_closed(missed_before, "missed"),  # before the last session: not shown
        ask_closed(missed_late_news, "missed"),  # before its request
        missed_late_news,
        withdrawn,
        ask_closed(withdrawn, "withdrawn"),
        flag_raised(uuid4(), 2, t).model_copy(update={"client_id": "bob"}),
    ]
    for event in events:
        await goals.publish(event)
    consumer = service.runtime.consumers[0]

    async def caught_up(count: int) -> bool:
        return consumer.applied >= count

    await eventually(lambda: caught_up(len(events)))
    url = f"/clinics/{CLINIC}/clients/alice/prep-brief"
    brief = (await service.http.get(url)).json()

    assert brief["safety_plan"] == {
        "exists": True,
        "revision": 2,
        "last_changed_at": revised["revised_at"],
    }
    assert [
        (f["flag_id"], f["instrument"], f["item"], f["score"], f["safety_plan"])
        for f in brief["risk_flags"]
    ] == [(str(open_flag), "PHQ-9", 9, 3, safety_plan)]
    assert instant(brief["risk_flags"][0]["raised_at"]) == t + timedelta(days=1)
    assert [(m["ask_id"], m["instrument"], m["timing"]) for m in brief["measures_due"]] == [
        (str(before_session.ask_id), "PHQ-9", "before-session")
    ]
    due = brief["measures_due"][0]
    assert [instant(due[k]) for k in ("ask_at", "due_at", "deadline")] == [
        before_session.ask_at,
        before_session.due_at,
        before_session.deadline,
    ]
    assert [(m["ask_id"], instant(m["missed_at"])) for m in brief["measures_missed"]] == [
        (str(missed_late_news.ask_id), missed_late_news.deadline),
        (str(every_few_days.ask_id), every_few_days.deadline),
    ]

    live_rows = await service.projection_rows()
    await damage_projection(service)
    await service.runtime.rebuild("notes")
    assert await service.projection_rows() == live_rows
    assert (await service.http.get(url)).json() == brief

    # Acknowledged, the flag leaves the brief.
    await goals.publish(acknowledged(open_flag, t + timedelta(days=3)))
    await eventually(lambda: caught_up(len(events) + 1))
    assert (await service.http.get(url)).json()["risk_flags"] == []
