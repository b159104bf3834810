"""The HTTP API on a real database and nats-server: goals and homework agreed directly, rules
answered with problem+json naming the field, and one clinic never seeing another's data."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from goals_support import CLIENT, CLINIC, COUNSELOR, OTHER_CLINIC, problem_fields, running_goals

from rapport_devtools.testing import eventually
from rapport_shared.contracts.goals import GoalAgreed, HomeworkAssigned
from rapport_shared.persistence.schema import events_table


def goal_body(**changes):
    return {
        "client_id": CLIENT,
        "counselor_id": COUNSELOR,
        "description": "Practise box breathing when anxious",
        "measure": "times practised",
        "target": "once a day",
        "due_date": str(date.today() + timedelta(days=30)),
        **changes,
    }


def homework_body(**changes):
    return {
        "client_id": CLIENT,
        "counselor_id": COUNSELOR,
        "instructions": "Write three worries, then a response to each",
        "due_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        **changes,
    }


GOALS = f"/clinics/{CLINIC}/goals"
HOMEWORK = f"/clinics/{CLINIC}/homework"


async def created(goals, path, body):
    response = await goals.http.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_goal_agreed_directly_is_stored_published_and_read_back(database_url, nats_server):
    goal_id = str(uuid4())
    async with running_goals(database_url, nats_server.url) as goals:
        goal = await created(goals, GOALS, goal_body(goal_id=goal_id))
        assert goal["goal_id"] == goal_id and goal["session_id"] is None
        assert (goal["clinic_id"], goal["client_id"], goal["target"]) == (
            CLINIC,
            CLIENT,
            "once a day",
        )
        assert (await goals.http.get(f"/clinics/{CLINIC}/goals/{goal_id}")).json() == goal

        again = await goals.http.post(GOALS, json=goal_body(goal_id=goal_id))
        assert again.status_code == 409 and problem_fields(again) == ["goal_id"]

        assert (await created(goals, GOALS, goal_body()))["goal_id"] != goal_id

        [(subject, first), _] = await goals.published_count(2)
        assert subject == f"rapport.{CLINIC}.goals.goal-agreed"
        assert isinstance(first.contract, GoalAgreed) and str(first.contract.goal_id) == goal_id
        assert first.contract.agreed_at == datetime.fromisoformat(goal["agreed_at"])


async def test_homework_assigned_directly_may_serve_only_the_clients_own_goal(
    database_url, nats_server
):
    async with running_goals(database_url, nats_server.url) as goals:
        goal_id = (await created(goals, GOALS, goal_body()))["goal_id"]
        other_clients = (await created(goals, GOALS, goal_body(client_id="client-ben")))["goal_id"]
        other_clinics = (await created(goals, f"/clinics/{OTHER_CLINIC}/goals", goal_body()))[
            "goal_id"
        ]
        before = await goals.stored_event_count()
        for wrong_goal in (other_clients, other_clinics, str(uuid4())):
            refused = await goals.http.post(HOMEWORK, json=homework_body(goal_id=wrong_goal))
            assert refused.status_code == 422 and problem_fields(refused) == ["goal_id"]
        assert await goals.stored_event_count() == before

        homework_id = str(uuid4())
        body = homework_body(goal_id=goal_id, homework_id=homework_id)
        assigned = await goals.http.post(HOMEWORK, json=body)
        assert assigned.status_code == 201, assigned.text
        assert assigned.json() == {
            "homework_id": homework_id,
            "goal_id": goal_id,
            "session_id": None,
            "instructions": body["instructions"],
            "due_at": body["due_at"].replace("+00:00", "Z"),
            "completed_at": None,
            "status": "assigned",
            "type": "other",
            "recurrence": None,
            "reminder_lead_minutes": None,
            "next_due_at": body["due_at"].replace("+00:00", "Z"),
        }
        again = await goals.http.post(HOMEWORK, json=body)
        assert again.status_code == 409 and problem_fields(again) == ["homework_id"]

        assert await goals.client_homework(1) == [assigned.json()]
        progress = (await goals.http.get(f"/clinics/{CLINIC}/goals/{goal_id}/progress")).json()
        assert progress["homework_assigned"] == 1
        published = await goals.published_count(4)
        assert isinstance(published[-1][1].contract, HomeworkAssigned)
        assert published[-1][0] == f"rapport.{CLINIC}.goals.homework-assigned"


async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(database_url, nats_server):
    now = datetime.now(UTC)
    async with running_goals(database_url, nats_server.url) as goals:
        homework_id = (await created(goals, HOMEWORK, homework_body()))["homework_id"]
        await goals.published_count(1)  # the outbox is empty again from here on
        before = (await goals.stored_event_count(), await goals.projection_rows())

        complete = f"{HOMEWORK}/{homework_id}/complete"
        in_an_hour, yesterday = (now + timedelta(hours=1)).isoformat(), (now - timedelta(days=1))
        cases = [
            ("post", GOALS, goal_body(due_date="2020-01-01"), "due_date"),
            ("post", GOALS, goal_body(nickname="x"), "nickname"),
            ("post", GOALS, goal_body(description="  "), "description"),
            ("post", GOALS, goal_body(client_id="ana smith"), "client_id"),
            ("post", GOALS, goal_body(goal_id="nope"), "goal_id"),
            ("post", "/clinics/North_Side/goals", goal_body(), "clinic_id"),
            ("post", HOMEWORK, homework_body(due_at="2030-01-01T09:00"), "due_at"),  # no offset
            ("post", HOMEWORK, homework_body(due_at=now.isoformat()), "due_at"),
            ("post", complete, {"completed_at": in_an_hour}, "completed_at"),
            ("post", complete, {"completed_at": yesterday.isoformat()}, "completed_at"),
            ("post", complete, {"when": now.isoformat()}, "when"),
            ("get", f"/clinics/{CLINIC}/clients/ana smith/homework", None, "client_id"),
            ("get", f"/clinics/{CLINIC}/clients/-ana/progress", None, "client_id"),
            ("get", f"/clinics/{CLINIC}/goals/not-a-uuid", None, "goal_id"),
        ]
        for method, path, body, field in cases:
            response = await goals.http.request(method, path, json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert problem_fields(response) == [field], (path, body, response.text)

        assert (await goals.stored_event_count(), await goals.projection_rows()) == before

        async def outbox_drained() -> bool:
            return await goals.waiting_to_publish() == 0

        await eventually(outbox_drained)


async def test_one_clinic_never_sees_or_changes_another_clinics_goals_and_homework(
    database_url, nats_server
):
    async with running_goals(database_url, nats_server.url) as goals:
        goal_id = (await created(goals, GOALS, goal_body()))["goal_id"]
        homework_id = (await created(goals, HOMEWORK, homework_body(goal_id=goal_id)))[
            "homework_id"
        ]
        events_before = await goals.rows(events_table)

        other = f"/clinics/{OTHER_CLINIC}"
        for path in (f"{other}/goals/{goal_id}", f"{other}/goals/{goal_id}/progress"):
            response = await goals.http.get(path)
            assert response.status_code == 404 and problem_fields(response) == ["goal_id"]
        completed = await goals.http.post(f"{other}/homework/{homework_id}/complete", json={})
        assert completed.status_code == 404 and problem_fields(completed) == ["homework_id"]
        unknown = await goals.http.post(f"/clinics/{CLINIC}/homework/{uuid4()}/complete")
        assert unknown.status_code == 404
        assert (await goals.http.get(f"{other}/clients/{CLIENT}/homework")).json() == []
        # The client is known in this clinic only: elsewhere, as unknown as anyone.
        elsewhere = await goals.http.get(f"{other}/clients/{CLIENT}/progress")
        assert elsewhere.status_code == 404 and problem_fields(elsewhere) == ["client_id"]

        assert await goals.rows(events_table) == events_before
        [own] = await goals.client_homework(1)
        assert own["status"] == "assigned"
        assert (await goals.http.get(f"/clinics/{CLINIC}/goals/{goal_id}")).status_code == 200
