"""The notes projection, fed by the service's own commands and by goals events published on a
real RAPPORT_GOALS stream, and its rebuild from scratch."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sessions_support import (
    CLINIC,
    OTHER_CLINIC,
    GoalsProducer,
    RunningService,
    damage_projection,
    instant,
    later,
    plan,
)

from rapport_sessions.projections import rebuild
from rapport_shared.contracts.goals import GoalAgreed, HomeworkAssigned, HomeworkCompleted
from rapport_shared.testing import eventually

NOW = datetime.now(UTC).replace(microsecond=0)


def goal_agreed(session_id: UUID | None, clinic: str = CLINIC) -> GoalAgreed:
    return GoalAgreed(
        clinic_id=clinic,
        goal_id=uuid4(),
        client_id="alice",
        counselor_id="kim",
        session_id=session_id,
        description="walk every morning",
        measure="days walked",
        target="5 per week",
        due_date=date(2030, 1, 31),
        agreed_at=NOW,
    )


def assigned(session_id: UUID, goal_id: UUID | None, due_days: int) -> HomeworkAssigned:
    return HomeworkAssigned(
        clinic_id=CLINIC,
        homework_id=uuid4(),
        goal_id=goal_id,
        session_id=session_id,
        client_id="alice",
        counselor_id="kim",
        instructions=f"task due in {due_days} days",
        due_at=NOW + timedelta(days=due_days),
        assigned_at=NOW,
    )


def completed(homework: HomeworkAssigned) -> HomeworkCompleted:
    return HomeworkCompleted(
        clinic_id=homework.clinic_id,
        homework_id=homework.homework_id,
        goal_id=homework.goal_id,
        client_id=homework.client_id,
        due_at=homework.due_at,
        completed_at=NOW + timedelta(hours=5),
    )


async def test_notes_projection_follows_sessions_and_goals_events_and_rebuilds_equal(
    service: RunningService, goals: GoalsProducer
) -> None:
    later_session = await service.schedule("alice", starts_at=later(days=2))
    earlier_session = await service.schedule("alice", starts_at=later(days=1))
    await service.schedule("bob")
    elsewhere = await service.schedule("alice", clinic=OTHER_CLINIC)
    s1 = UUID(later_session["session_id"])
    url = f"/clinics/{CLINIC}/sessions/{s1}"
    assert (await service.http.post(f"{url}/notes", json={"body": "private"})).status_code == 201
    closing = plan()
    assert (await service.http.post(f"{url}/close", json=closing)).status_code == 200

    # What the goals service would publish for the close of s1, delivered out of order and twice.
    goal = goal_agreed(s1)
    homework_for_goal = assigned(s1, goal.goal_id, due_days=3)
    loose_homework = assigned(s1, None, due_days=1)
    goal_event_id = await goals.publish(goal)
    await goals.publish(goal_agreed(None))  # agreed outside a session: not in any notes
    await goals.publish(completed(homework_for_goal))  # before its assignment
    await goals.publish(goal, event_id=goal_event_id)  # redelivered copy, same event id
    await goals.publish(homework_for_goal)
    await goals.publish(homework_for_goal)  # republished under a new event id
    await goals.publish(goal_agreed(UUID(elsewhere["session_id"]), clinic=OTHER_CLINIC))
    await goals.publish(loose_homework)

    consumer = service.runtime.consumers[0]
    await eventually(lambda: _at_least(lambda: consumer.applied, 7))
    notes = (await service.http.get(f"/clinics/{CLINIC}/clients/alice/notes")).json()
    assert notes["client_id"] == "alice"
    assert [s["session_id"] for s in notes["sessions"]] == [earlier_session["session_id"], str(s1)]
    first, closed = notes["sessions"]
    assert first == {
        "session_id": earlier_session["session_id"],
        "starts_at": first["starts_at"],
        "status": "scheduled",
        "closed_at": None,
        "next_session_at": None,
        "has_note": False,
        "goals": [],
        "homework": [],
    }
    assert (closed["status"], closed["has_note"]) == ("closed", True)
    assert instant(closed["next_session_at"]) == instant(closing["next_session_at"])
    assert closed["goals"] == [
        {"goal_id": str(goal.goal_id), "description": goal.description, "due_date": "2030-01-31"}
    ]
    assert [
        (h["homework_id"], h["goal_id"], h["instructions"], instant(h["due_at"]))
        for h in closed["homework"]
    ] == [
        (str(hw.homework_id), hw.goal_id and str(hw.goal_id), hw.instructions, hw.due_at)
        for hw in (loose_homework, homework_for_goal)  # ordered by due time
    ]
    completions = [h["completed_at"] for h in closed["homework"]]
    assert completions[0] is None
    assert instant(completions[1]) == NOW + timedelta(hours=5)

    other = (await service.http.get(f"/clinics/{OTHER_CLINIC}/clients/alice/notes")).json()
    assert [len(s["goals"]) for s in other["sessions"]] == [1]
    bob = (await service.http.get(f"/clinics/{CLINIC}/clients/bob/notes")).json()
    assert [(s["status"], s["goals"]) for s in bob["sessions"]] == [("scheduled", [])]

    live_rows = await service.projection_rows()
    await damage_projection(service)
    assert await service.projection_rows() != live_rows
    await rebuild(service.runtime)
    assert await service.projection_rows() == live_rows
    assert (await service.http.get(f"/clinics/{CLINIC}/clients/alice/notes")).json() == notes


async def _at_least(read: Any, n: int) -> bool:
    return bool(read() >= n)


async def test_a_rebuild_without_a_goals_stream_replays_the_own_events(
    service: RunningService,
) -> None:
    session = await service.schedule("carol")
    url = f"/clinics/{CLINIC}/sessions/{session['session_id']}"
    await service.http.post(f"{url}/notes", json={"body": "n"})
    await service.http.post(f"{url}/close", json=plan(goals=0, homework_goal_index=None))
    live_rows = await service.projection_rows()
    await damage_projection(service)
    await rebuild(service.runtime)  # RAPPORT_GOALS was never declared: nothing foreign to replay
    assert await service.projection_rows() == live_rows
    notes = (await service.http.get(f"/clinics/{CLINIC}/clients/carol/notes")).json()
    assert [(s["status"], s["has_note"]) for s in notes["sessions"]] == [("closed", True)]
