"""Strict bodies against the real goals service (real database and nats-server): a value of the
wrong type is refused naming its field, never converted, and nothing is written."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from goals_support import CLIENT, CLINIC, COUNSELOR, goal_body, running_goals
from sqlalchemy import func, select

from rapport_shared.persistence.schema import events_table


def homework_body(**changes: Any) -> dict[str, Any]:
    return {
        "client_id": CLIENT,
        "counselor_id": COUNSELOR,
        "instructions": "Log each walk",
        "due_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        **changes,
    }


def measure_body(**changes: Any) -> dict[str, Any]:
    return {"instrument": "PHQ-9", "items": [1, 2, 0, 1, 3, 0, 1, 2, 0], **changes}


def errors_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"]: error["message"] for error in response.json()["errors"]}


async def stored_events(goals: Any) -> int:
    async with goals.runtime.engine.connect() as conn:
        query = select(func.count()).select_from(events_table)
        return int((await conn.execute(query)).scalar_one())


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"gas_weight": "2"}, "gas_weight", "must be a number"),
        ({"gas_weight": True}, "gas_weight", "must be a number"),
        ({"due_date": 20_000}, "due_date", "must be a date, e.g. 2026-11-22"),
        ({"due_date": "2026-12-01T00:00:00Z"}, "due_date", "must be a date, e.g. 2026-11-22"),
        ({"review_every_days": "7"}, "review_every_days", "must be a whole number"),
        ({"review_every_days": True}, "review_every_days", "must be a whole number"),
        (
            {"gas_scale": [{"level": "1", "description": "as expected"}]},
            "gas_scale.0.level",
            "must be a whole number",
        ),
        ({"description": 5}, "description", "must be a string"),
    ],
)
async def test_a_goal_of_the_wrong_types_is_refused(
    database_url, nats_server, changes, field, message
):
    async with running_goals(database_url, nats_server.url) as goals:
        response = await goals.http.post(f"/clinics/{CLINIC}/goals", json=goal_body(**changes))
        assert errors_of(response) == {field: message}
        assert await stored_events(goals) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"due_at": 1_900_000_000}, "due_at"),  # was: homework due in 2030, from a number
        ({"due_at": "1900000000"}, "due_at"),
        ({"reminder_lead_minutes": "60"}, "reminder_lead_minutes"),
        ({"reminder_lead_minutes": 60.5}, "reminder_lead_minutes"),
        ({"recurrence": {"frequency": "daily", "until": 20_000}}, "recurrence.until"),
    ],
)
async def test_homework_of_the_wrong_types_is_refused(database_url, nats_server, changes, field):
    async with running_goals(database_url, nats_server.url) as goals:
        response = await goals.http.post(
            f"/clinics/{CLINIC}/homework", json=homework_body(**changes)
        )
        assert list(errors_of(response)) == [field]
        assert await stored_events(goals) == 0


@pytest.mark.parametrize(
    ("items", "field"),
    [
        (["3", 2, 0, 1, 3, 0, 1, 2, 0], "items.0"),  # was: scored as 3
        ([1, True, 0, 1, 3, 0, 1, 2, 0], "items.1"),  # was: scored as 1
        ([1, 2, 0, 1, 3, 0, 1, 2, 0.0], "items.8"),
        ("123456789", "items"),
    ],
)
async def test_measure_items_must_be_whole_numbers(database_url, nats_server, items, field):
    async with running_goals(database_url, nats_server.url) as goals:
        response = await goals.http.post(
            f"/clinics/{CLINIC}/clients/{CLIENT}/measures", json=measure_body(items=items)
        )
        assert list(errors_of(response)) == [field]
        assert await stored_events(goals) == 0


async def test_reviews_and_completions_refuse_strings_and_booleans(database_url, nats_server):
    async with running_goals(database_url, nats_server.url) as goals:
        created = await goals.http.post(f"/clinics/{CLINIC}/goals", json=goal_body())
        assert created.status_code == 201, created.text
        goal_id = created.json()["goal_id"]
        homework = await goals.http.post(f"/clinics/{CLINIC}/homework", json=homework_body())
        assert homework.status_code == 201, homework.text
        homework_id = homework.json()["homework_id"]
        before = await stored_events(goals)

        review = {"achievement_status": "improving", "reviewed_by": COUNSELOR}
        for level in ("1", True):
            reviewed = await goals.http.post(
                f"/clinics/{CLINIC}/goals/{goal_id}/reviews",
                json={**review, "attained_level": level},
            )
            assert list(errors_of(reviewed)) == ["attained_level"]
        url = f"/clinics/{CLINIC}/homework/{homework_id}/complete"
        for wrong in (
            {"self_rating": "7"},
            {"self_rating": False},
            {"completed_at": 1_700_000_000},
        ):
            completed = await goals.http.post(url, json=wrong)
            assert list(errors_of(completed)) == list(wrong)
        assert await stored_events(goals) == before
