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

from rapport_devtools.testing import eventually
from rapport_shared.contracts.goals import (
    GoalAgreed,
    GoalRevised,
    HomeworkAssigned,
    HomeworkCompleted,
)
from rapport_shared.contracts.plan import derived_id

NOW = datetime.now(UTC).replace(microsecond=0)


def goal_agreed(
    session_id: UUID | None, clinic: str = CLINIC, goal_id: UUID | None = None
) -> GoalAgreed:
    return GoalAgreed(
        clinic_id=clinic,
        goal_id=goal_id or uuid4(),
        client_id="alice",
        counselor_id="kim",
        session_id=session_id,
        due_date=date(2030, 1, 31),
        agreed_at=NOW,
    )


def revised(goal: GoalAgreed) -> GoalRevised:
    return GoalRevised(
        clinic_id=goal.clinic_id,
        goal_id=goal.goal_id,
        client_id=goal.client_id,
        revised_at=NOW + timedelta(hours=1),
        revised_by="kim",
        wording_revised=True,
    )


def assigned(
    session_id: UUID, goal_id: UUID | None, due_days: int, homework_id: UUID | None = None
) -> HomeworkAssigned:
    return HomeworkAssigned(
        clinic_id=CLINIC,
        homework_id=homework_id or uuid4(),
        goal_id=goal_id,
        session_id=session_id,
        client_id="alice",
        counselor_id="kim",
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

    # What the goals service would publish for the close of s1 (ids derived from the session,
    # no words), delivered out of order and twice, and a revision of the goal.
    goal_id, homework_id = derived_id(s1, "goal", 0), derived_id(s1, "homework", 0)
    goal = goal_agreed(s1, goal_id=goal_id)
    homework_for_goal = assigned(s1, goal_id, due_days=3, homework_id=homework_id)
    goal_event_id = await goals.publish(goal)
    await goals.publish(goal_agreed(None))  # agreed outside a session: not in any notes
    await goals.publish(completed(homework_for_goal))  # before its assignment
    await goals.publish(goal, event_id=goal_event_id)  # redelivered copy, same event id
    await goals.publish(homework_for_goal)
    await goals.publish(homework_for_goal)  # republished under a new event id
    await goals.publish(revised(goal))
    await goals.publish(goal_agreed(UUID(elsewhere["session_id"]), clinic=OTHER_CLINIC))

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
        "refused": [],
    }
    assert (closed["status"], closed["has_note"]) == ("closed", True)
    assert instant(closed["next_session_at"]) == instant(closing["next_session_at"])
    # The words are the session's own record of the plan it closed with; the revision (words
    # unknown here) marks the goal revised.
    assert closed["goals"] == [
        {
            "goal_id": str(goal_id),
            "description": closing["goals"][0]["description"],
            "due_date": closing["goals"][0]["due_date"],
            "revised": True,
        }
    ]
    [homework] = closed["homework"]
    assert (homework["homework_id"], homework["goal_id"], homework["instructions"]) == (
        str(homework_id),
        str(goal_id),
        closing["homework"][0]["instructions"],
    )
    assert instant(homework["due_at"]) == instant(closing["homework"][0]["due_at"])
    assert instant(homework["completed_at"]) == NOW + timedelta(hours=5)

    other = (await service.http.get(f"/clinics/{OTHER_CLINIC}/clients/alice/notes")).json()
    assert [len(s["goals"]) for s in other["sessions"]] == [0]  # that session never closed
    bob = (await service.http.get(f"/clinics/{CLINIC}/clients/bob/notes")).json()
    assert [(s["status"], s["goals"]) for s in bob["sessions"]] == [("scheduled", [])]

    live_rows = await service.projection_rows()
    await damage_projection(service)
    assert await service.projection_rows() != live_rows
    await service.runtime.rebuild("notes")
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
    # RAPPORT_GOALS was never declared: nothing foreign to replay.
    await service.runtime.rebuild("notes")
    assert await service.projection_rows() == live_rows
    notes = (await service.http.get(f"/clinics/{CLINIC}/clients/carol/notes")).json()
    assert [(s["status"], s["has_note"]) for s in notes["sessions"]] == [("closed", True)]
