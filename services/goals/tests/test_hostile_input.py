"""Hostile and careless input against the real goals service (real database, nats-server)."""

from datetime import date, timedelta

from goals_support import CLIENT, CLINIC, COUNSELOR, goal_body, problem_fields, running_goals
from sqlalchemy import func, select

from rapport_shared.persistence.schema import events_table


async def goals_agreed(goals) -> int:
    query = select(func.count()).select_from(events_table)
    query = query.where(events_table.c.event_type == "goal-agreed")
    async with goals.runtime.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_a_replayed_goal_is_agreed_once(database_url, nats_server):
    async with running_goals(database_url, nats_server.url) as goals:
        url = f"/clinics/{CLINIC}/goals"
        headers = {"Idempotency-Key": "0b6f1c6e-6a43-4f5e-9a51-2d1c1f9d2e11"}
        first = await goals.http.post(url, json=goal_body(), headers=headers)
        again = await goals.http.post(url, json=goal_body(), headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert await goals_agreed(goals) == 1
        changed = await goals.http.post(url, json=goal_body(priority="high"), headers=headers)
        assert changed.status_code == 422
        assert problem_fields(changed) == ["Idempotency-Key"]
        assert await goals_agreed(goals) == 1


async def test_plan_collections_and_numbers_are_bounded(database_url, nats_server):
    async with running_goals(database_url, nats_server.url) as goals:
        url = f"/clinics/{CLINIC}/goals"
        later = (date.today() + timedelta(days=10)).isoformat()
        milestones = [{"description": "a step", "due_date": later}] * 21
        too_many = await goals.http.post(url, json=goal_body(milestones=milestones))
        assert problem_fields(too_many) == ["milestones"]
        # A due date at the calendar's edge leaves no room for its review dates: refused, not 500.
        edge = await goals.http.post(
            url, json=goal_body(due_date="9999-12-31", review_every_days=7)
        )
        assert problem_fields(edge) == ["due_date"]
        # Python's JSON reader takes Infinity; it would pass "> 0" and then break every encoder.
        infinite = await goals.http.post(
            url,
            content=b'{"gas_weight": Infinity, "client_id": "x"}',
            headers={"Content-Type": "application/json"},
        )
        assert "gas_weight" in problem_fields(infinite)
        homework = {
            "client_id": CLIENT,
            "counselor_id": COUNSELOR,
            "instructions": "log walks",
            "due_at": "2030-01-01T09:00:00+00:00",
            "recurrence": {"frequency": "weekly", "until": "2030-02-01", "time_zone": "Z" * 65},
        }
        long_zone = await goals.http.post(f"/clinics/{CLINIC}/homework", json=homework)
        assert problem_fields(long_zone) == ["recurrence.time_zone"]
        measure = {"instrument": "PHQ-9", "items": [1] * 21}
        many_items = await goals.http.post(
            f"/clinics/{CLINIC}/clients/{CLIENT}/measures", json=measure
        )
        assert problem_fields(many_items) == ["items"]
        assert await goals_agreed(goals) == 0
