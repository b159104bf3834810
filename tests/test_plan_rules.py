"""One set of plan rules, and no plan silently lost.

Closing a session refuses, with a 422 naming the field, every plan item the goals service would
refuse, and leaves the session open: each rule the goals service enforces on a goal or a homework
is run through the close endpoint, and each is checked to be one the goals service does refuse.

If the goals service still refuses an item of an accepted plan (its rules drifted from the
sessions service's), it applies the rest, records plan-item-refused, and the counselor learns of
it: the session and the notes view show it refused, not created; the prep brief shows it; and
notifications sends the counselor an alert. Run through the real services on a real nats-server.
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from goals_support import CLIENT as GOALS_CLIENT
from notifications_support import running_service as running_notifications
from pydantic import ValidationError
from sessions_support import CLINIC, due_in, later, running_service
from sqlalchemy import select

from rapport_devtools.natsserver import NatsServer
from rapport_devtools.testing import TEST_AUTH_SECRET, ClinicAdminAuth, eventually
from rapport_goals.bootstrap import build_app as build_goals
from rapport_goals.domain.model import plan_from_session
from rapport_goals.settings import GoalsSettings
from rapport_shared.contracts.errors import DomainError
from rapport_shared.contracts.goals import PlanItemRefused, RefusalReason
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework, PlanWording, split
from rapport_shared.contracts.sessions import SessionClosed
from rapport_shared.persistence.schema import dead_letters_table
from rapport_shared.runtime.service import ServiceRuntime

COUNSELOR = "kim"  # sessions_support schedules with this counselor
# The reasons only the goals side can give: they name no rule of a single item.
GOALS_SIDE_ONLY = {"goal-refused", "rule-broken", "invalid-item"}


def goal(**terms: Any) -> dict[str, Any]:
    return {
        "description": "walk every morning",
        "measure": "days walked",
        "target": "5 per week",
        "due_date": due_in(30),
        **terms,
    }


def homework(**terms: Any) -> dict[str, Any]:
    return {"instructions": "log each walk", "due_at": later(days=3), "goal_index": 0, **terms}


def daily(**terms: Any) -> dict[str, Any]:
    return {"frequency": "daily", "until": due_in(20), **terms}


def scale(*levels: int) -> list[dict[str, Any]]:
    return [{"level": level, "description": f"level {level}"} for level in levels]


# Each rule the goals service enforces on a plan item (rapport_shared.contracts.plan_rules), broken
# by the second goal or homework of an otherwise valid plan: (reason, goals, homework, field).
CASES: list[tuple[RefusalReason, list[dict[str, Any]], list[dict[str, Any]], str]] = [
    ("due-date-past", [goal(), goal(due_date=due_in(-3))], [], "goals.1.due_date"),
    (
        "milestone-after-due-date",
        [goal(), goal(milestones=[{"description": "first week", "due_date": due_in(31)}])],
        [],
        "goals.1.milestones.0.due_date",
    ),
    ("gas-scale-levels", [goal(), goal(gas_scale=scale(-2, -1, 0, 1))], [], "goals.1.gas_scale"),
    (
        "gas-scale-levels",
        [goal(), goal(gas_scale=scale(-2, -1, 0, 1, 1))],
        [],
        "goals.1.gas_scale",
    ),
    ("gas-weight", [goal(), goal(gas_weight=0)], [], "goals.1.gas_weight"),
    ("review-cadence", [goal(), goal(review_every_days=366)], [], "goals.1.review_every_days"),
    (
        "due-before-assignment",
        [goal()],
        [homework(), homework(due_at=later(hours=-1))],
        "homework.1.due_at",
    ),
    (
        "time-zone-unknown",
        [goal()],
        [homework(), homework(recurrence=daily(time_zone="Mars/Olympus"))],
        "homework.1.recurrence.time_zone",
    ),
    (
        "weekdays-not-weekly",
        [goal()],
        [homework(), homework(recurrence=daily(weekdays=["mon"]))],
        "homework.1.recurrence.weekdays",
    ),
    (
        "until-before-first",
        [goal()],
        [homework(), homework(recurrence=daily(until=due_in(1)))],
        "homework.1.recurrence.until",
    ),
    (
        "too-many-occurrences",
        [goal()],
        [homework(), homework(recurrence=daily(until=due_in(3 + 366)))],
        "homework.1.recurrence.until",
    ),
    (
        "too-many-occurrences",
        [goal()],
        [homework(), homework(recurrence=daily(until=due_in(10_000)))],
        "homework.1.recurrence.until",
    ),
    ("goal-index", [goal()], [homework(), homework(goal_index=1)], "homework.1.goal_index"),
]


def test_the_cases_cover_every_rule_of_a_plan_item():
    covered = {reason for reason, *_ in CASES}
    assert covered == set(get_args(RefusalReason)) - GOALS_SIDE_ONLY


@pytest.mark.parametrize(("reason", "goals", "homework", "field"), CASES)
def test_each_case_is_one_the_goals_service_refuses(reason, goals, homework, field):
    """What the close endpoint refuses, the goals service would refuse too: the same field and
    reason; or the plan's contract itself cannot carry it to the goals service."""
    closed_at = datetime.now(UTC)
    try:
        worded = (
            [AgreedGoal.model_validate(g) for g in goals],
            [AgreedHomework.model_validate(h) for h in homework],
        )
        planned_goals, planned_homework, _ = split(*worded)
    except ValidationError as error:
        assert reason in ("gas-weight", "review-cadence")
        where = [".".join(map(str, e["loc"])) for e in error.errors()]
        assert any(field.split(".", 2)[2] in place for place in where), where
        return
    session = SessionClosed(
        clinic_id=CLINIC,
        session_id="6f9f4b1e-2f47-4c62-9a44-1d2d3c4b5a69",
        client_id=GOALS_CLIENT,
        counselor_id=COUNSELOR,
        closed_at=closed_at,
        goals=planned_goals,
        homework=planned_homework,
    )
    refused = [
        event
        for _, events in plan_from_session(session, PlanWording())
        for event in events
        if isinstance(event, PlanItemRefused)
    ]
    assert [(r.reason, r.field) for r in refused] == [(reason, field)]


async def test_closing_refuses_every_item_the_goals_service_would_and_stays_open(
    database_url: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    async with running_service(database_url, nats_server.url, tmp_path / "data") as service:
        session = await service.schedule()
        url = f"/clinics/{CLINIC}/sessions/{session['session_id']}"
        events_before = await service.count_events()
        for reason, planned_goals, planned_homework, field in CASES:
            body = {"goals": planned_goals, "homework": planned_homework}
            response = await service.http.post(f"{url}/close", json=body)
            assert response.status_code == 422, (reason, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert field in [e["field"] for e in response.json()["errors"]], (reason, response.text)
            assert (await service.http.get(url)).json()["status"] == "scheduled", reason
        assert await service.count_events() == events_before
        # The same plan without its broken items closes: the refusals were the rules', not the
        # plan's shape.
        valid = {"goals": [goal(), goal()], "homework": [homework(), homework()]}
        closed = await service.http.post(f"{url}/close", json=valid)
        assert closed.status_code == 200, closed.text


def journaling_not_offered(kind: str, item: AgreedGoal | AgreedHomework) -> None:
    """A rule only the goals side has: the drift the sessions service cannot foresee."""
    if isinstance(item, AgreedHomework) and item.type == "journaling":
        raise DomainError("journaling homework is not offered here", field="type")


@dataclass
class Goals:
    http: httpx.AsyncClient
    runtime: ServiceRuntime


@contextlib.asynccontextmanager
async def running_goals(database_url: str, nats_url: str, data_dir: Path) -> AsyncIterator[Goals]:
    settings = GoalsSettings(
        database_url=database_url,
        nats_url=nats_url,
        data_dir=str(data_dir),  # the sessions service's, so the same plan-seal key
        relay_poll_interval_seconds=0.1,
        consumer_retry_base_seconds=0.01,
        auth_secret=TEST_AUTH_SECRET,
        log_level="warning",
    )
    app = build_goals(settings, extra_plan_rule=journaling_not_offered)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", auth=ClinicAdminAuth()
        ) as http,
    ):
        await eventually(lambda: _ready(http))
        yield Goals(http, app.state.runtime)


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


async def test_an_item_only_the_goals_side_refuses_is_refused_alone_and_the_counselor_told(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"

    def sqlite(name: str) -> str:
        return f"sqlite+aiosqlite:///{tmp_path}/{name}.db"

    async with (
        running_service(sqlite("sessions"), nats_server.url, data) as sessions,
        running_goals(sqlite("goals"), nats_server.url, data) as goals,
        running_notifications(sqlite("notifications"), nats_server.url, tmp_path / "n") as notify,
    ):
        await notify.set_email(COUNSELOR, "kim@example.org")
        session = await sessions.schedule(client_id="alice", starts_at=later(hours=-1))
        session_id = session["session_id"]
        url = f"/clinics/{CLINIC}/sessions/{session_id}"
        plan = {
            "goals": [goal()],
            "homework": [homework(), homework(type="journaling", instructions="write it down")],
        }
        closed = await sessions.http.post(f"{url}/close", json=plan)
        assert closed.status_code == 200, closed.text

        # Goals applied what it could: the goal and the first homework; the second is refused.
        async def goals_homework() -> list[dict[str, Any]] | None:
            listed = await goals.http.get(f"/clinics/{CLINIC}/clients/alice/homework")
            assert listed.status_code == 200, listed.text
            return listed.json() or None

        [applied] = await eventually(goals_homework, timeout=15)
        assert applied["instructions"] == "log each walk"
        async with goals.runtime.engine.connect() as conn:
            assert (await conn.execute(select(dead_letters_table))).all() == []

        # Sessions: the notes view lists the refused homework as refused, not as created.
        async def notes_with_refusal() -> dict[str, Any] | None:
            notes = (await sessions.http.get(f"/clinics/{CLINIC}/clients/alice/notes")).json()
            [line] = notes["sessions"]
            return line if line["refused"] else None

        line = await eventually(notes_with_refusal, timeout=15)
        assert [h["instructions"] for h in line["homework"]] == ["log each walk"]
        assert len(line["goals"]) == 1
        [refused] = line["refused"]
        assert (refused["kind"], refused["item_index"]) == ("homework", 1)
        assert (refused["reason"], refused["field"]) == ("rule-broken", "homework.1.type")
        state = (await sessions.http.get(url)).json()
        assert state["refused"] == [refused]
        brief = (await sessions.http.get(f"/clinics/{CLINIC}/clients/alice/prep-brief")).json()
        assert brief["last_session"]["refused"] == [refused]

        # Notifications: the counselor is told at once.
        mails = await notify.wait_for_mail("kim@example.org")
        [mail] = [m for m in mails if m["Subject"] == "Part of an agreed plan was not set up"]
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        assert "The 2nd homework of the plan you agreed with alice" in text, text
        assert "write it down" not in text  # the plan's words never travel
