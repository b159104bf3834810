"""The goals service consuming session-closed from RAPPORT_SESSIONS (this test plays the sessions
service) and publishing on RAPPORT_GOALS, against a real nats-server and a real database."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid5

from goals_support import (
    CLINIC,
    agreed_goal,
    agreed_homework,
    running_goals,
    session_closed,
)

from rapport_devtools.testing import eventually
from rapport_shared.contracts.goals import GoalAgreed, HomeworkAssigned, HomeworkCompleted
from rapport_shared.persistence.schema import dead_letters_table, events_table

GOALS_SUBJECT = f"rapport.{CLINIC}.goals"


async def test_a_closed_sessions_plan_becomes_goals_and_homework_once(database_url, nats_server):
    now = datetime.now(UTC)
    session = session_closed(
        [agreed_goal(30), agreed_goal(60, "Sleep by 23:00")],
        [
            agreed_homework(now + timedelta(days=2), goal_index=1),
            agreed_homework(now + timedelta(days=1)),
            agreed_homework(now + timedelta(days=3), goal_index=0),
        ],
    )
    goal_ids = [uuid5(session.session_id, f"goal-{i}") for i in (0, 1)]
    homework_ids = [uuid5(session.session_id, f"homework-{i}") for i in (0, 1, 2)]
    async with running_goals(database_url, nats_server.url) as goals:
        session_event_id = await goals.publish_session_closed(session)

        published = await goals.published_count(5)
        assert [subject for subject, _ in published] == [f"{GOALS_SUBJECT}.goal-agreed"] * 2 + [
            f"{GOALS_SUBJECT}.homework-assigned"
        ] * 3
        events = [incoming.contract for _, incoming in published]
        assert all(isinstance(e, GoalAgreed) for e in events[:2])
        assert all(isinstance(e, HomeworkAssigned) for e in events[2:])
        assert [e.goal_id for e in events[:2]] == goal_ids
        assert [e.homework_id for e in events[2:]] == homework_ids
        assert [e.goal_id for e in events[2:]] == [goal_ids[1], None, goal_ids[0]]
        assert {(e.session_id, e.client_id, e.clinic_id) for e in events} == {
            (session.session_id, session.client_id, CLINIC)
        }
        assert {incoming.causation_id for _, incoming in published} == {session_event_id}

        homework = await goals.client_homework(3)
        assert [h["homework_id"] for h in homework] == [str(homework_ids[i]) for i in (1, 0, 2)]
        assert {(h["status"], h["session_id"]) for h in homework} == {
            ("assigned", str(session.session_id))
        }
        for goal_id in goal_ids:
            progress = (await goals.http.get(f"/clinics/{CLINIC}/goals/{goal_id}/progress")).json()
            assert progress["homework_assigned"] == 1 and progress["homework_completed"] == 0

        # The same event again under a new Nats-Msg-Id (as after the duplicate window) ...
        await goals.publish_session_closed(session, event_id=session_event_id, msg_id="copy-1")
        # ... and the same plan under a new event id, as if the consumer's own de-duplication
        # were bypassed (a replayed dead letter, a producer that re-sent its close).
        await goals.publish_session_closed(session)
        # A later session marks the point by which both copies have been consumed.
        marker = session_closed([agreed_goal(10)])
        await goals.publish_session_closed(marker)

        published = await goals.published_count(6)
        assert published[-1][1].contract.goal_id == uuid5(marker.session_id, "goal-0")
        assert await goals.stored_event_count() == 12  # each with its private words
        assert len(await goals.client_homework(3)) == 3
        [consumer] = [c for c in goals.runtime.consumers if c.subscription.durable == "goals-plans"]
        assert consumer.applied == 3  # the first delivery, the bypassed copy, the marker


async def test_a_message_that_is_not_a_valid_plan_is_dead_lettered_and_the_next_one_applies(
    database_url, nats_server
):
    subject = f"rapport.{CLINIC}.sessions.session-closed"
    now = datetime.now(UTC)
    async with running_goals(database_url, nats_server.url) as goals:
        await goals.js.publish(subject, b"{not json")
        await goals.js.publish(
            subject,
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": "no-client",
                    "source": "/rapport/sessions/northside",
                    "type": "rapport.sessions.session-closed.v1",
                    "data": {"clinic_id": CLINIC, "session_id": "not-a-uuid"},
                }
            ).encode(),
        )
        # Valid as an event, but an item of its plan breaks a rule: that item is refused on its
        # own (plan-item-refused), the rest applies, and nothing of it is dead-lettered.
        broken_plan = session_closed(
            [agreed_goal()], [agreed_homework(now + timedelta(days=1), goal_index=3)]
        )
        await goals.publish_session_closed(broken_plan)
        good = session_closed([agreed_goal()], [agreed_homework(now + timedelta(days=1), 0)])
        await goals.publish_session_closed(good)

        published = await goals.published_count(4)
        by_session: dict[Any, list[str]] = {}
        for _, incoming in published:
            by_session.setdefault(incoming.contract.session_id, []).append(incoming.event_type)
        assert by_session == {
            broken_plan.session_id: ["goal-agreed", "plan-item-refused"],
            good.session_id: ["goal-agreed", "homework-assigned"],
        }
        refused = published[1][1].contract
        assert (refused.kind, refused.item_index, refused.reason, refused.field) == (
            "homework",
            0,
            "goal-index",
            "homework.0.goal_index",
        )

        async def dead_letters():
            rows = await goals.rows(dead_letters_table)
            return rows if len(rows) == 2 else None

        rows = sorted(await eventually(dead_letters), key=lambda r: r["stream_sequence"])
        assert "not JSON" in rows[0]["error"] and rows[0]["deliveries"] == 1
        assert "does not match session-closed" in rows[1]["error"]
        # The refused homework's stream holds its refusal, so a redelivery refuses nothing twice.
        refused_stream = f"homework-{uuid5(broken_plan.session_id, 'homework-0')}"
        stored = [r for r in await goals.rows(events_table) if r["stream_id"] == refused_stream]
        assert [r["event_type"] for r in stored] == ["plan-item-refused"]
        assert await goals.rows(dead_letters_table) == rows


async def test_completing_homework_publishes_homework_completed_with_on_time(
    database_url, nats_server
):
    now = datetime.now(UTC)
    session = session_closed(
        [agreed_goal()],
        [
            agreed_homework(now - timedelta(days=1), goal_index=0),  # overdue by now
            agreed_homework(now + timedelta(days=2), goal_index=0),
            agreed_homework(now + timedelta(days=3)),  # serves no goal
        ],
        closed_at=now - timedelta(days=3),
    )
    goal_id = uuid5(session.session_id, "goal-0")
    async with running_goals(database_url, nats_server.url) as goals:
        await goals.publish_session_closed(session)
        late, early, _ = await goals.client_homework(3)

        done_late = await goals.http.post(
            f"/clinics/{CLINIC}/homework/{late['homework_id']}/complete", json={}
        )
        assert done_late.status_code == 200, done_late.text
        assert done_late.json()["on_time"] is False
        completed_at = (now - timedelta(minutes=1)).isoformat()
        done_early = await goals.http.post(
            f"/clinics/{CLINIC}/homework/{early['homework_id']}/complete",
            json={"completed_at": completed_at},
        )
        assert done_early.json() == {
            "homework_id": early["homework_id"],
            "due_at": early["due_at"],
            "completed_at": completed_at.replace("+00:00", "Z"),
            "on_time": True,
            "final": True,
        }

        # Completing again, even several times at once, is refused and publishes nothing.
        path = f"/clinics/{CLINIC}/homework/{early['homework_id']}/complete"
        again = await asyncio.gather(*(goals.http.post(path, json={}) for _ in range(3)))
        assert [r.status_code for r in again] == [409] * 3

        published = await goals.published_count(4 + 2)
        completions = [incoming.contract for _, incoming in published[4:]]
        assert all(isinstance(c, HomeworkCompleted) for c in completions)
        assert [(str(c.homework_id), c.on_time, c.goal_id) for c in completions] == [
            (late["homework_id"], False, goal_id),
            (early["homework_id"], True, goal_id),
        ]
        assert completions[0].due_at == datetime.fromisoformat(late["due_at"])

        statuses = [h["status"] for h in await goals.client_homework(3)]
        assert statuses == ["completed", "completed", "assigned"]
        progress = (await goals.http.get(f"/clinics/{CLINIC}/goals/{goal_id}/progress")).json()
        assert {k: progress[k] for k in ("goal_id", "client_id", "adherence")} == {
            "goal_id": str(goal_id),
            "client_id": session.client_id,
            "adherence": {
                "due": 2,
                "completed": 2,
                "on_time": 1,
                "rate": 1.0,
                "on_time_rate": 0.5,
                "streak": 1,
            },
        }
        assert (progress["homework_assigned"], progress["homework_completed"]) == (2, 2)
        assert progress["completed_on_time"] == 1
        client = (
            await goals.http.get(f"/clinics/{CLINIC}/clients/{session.client_id}/progress")
        ).json()
        assert client["goals"] == [progress]
        assert client["total"] == {
            "homework_assigned": 3,
            "homework_completed": 2,
            "completed_on_time": 1,
        }


async def test_the_consumer_is_bound_with_the_configured_ack_wait(database_url, nats_server):
    """What a crashed instance had been delivered comes back after this long: the setting
    reaches the durable consumer on the broker, also when it existed with another value."""
    async with running_goals(database_url, nats_server.url, consumer_ack_wait_seconds=7) as goals:
        assert await eventually(lambda: _plans_ack_wait_is(goals.js, 7))
    async with running_goals(database_url, nats_server.url) as goals:  # the default
        assert await eventually(lambda: _plans_ack_wait_is(goals.js, 10))


async def _plans_ack_wait_is(js, seconds: float) -> bool:
    try:
        info = await js.consumer_info("RAPPORT_SESSIONS", "goals-plans")
    except Exception:  # noqa: BLE001 - not bound yet
        return False
    return info.config.ack_wait == seconds
