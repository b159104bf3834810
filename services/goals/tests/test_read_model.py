"""The progress read model: its tables are what the migration creates, and a rebuild from the
event store reaches exactly the rows the live projection wrote."""

from datetime import UTC, datetime, timedelta

import pytest
from goals_support import (
    CLINIC,
    agreed_goal,
    agreed_homework,
    running_goals,
    session_closed,
)
from sqlalchemy import delete, inspect, update

from rapport_devtools.testing import eventually
from rapport_goals.tables import (
    PROJECTION_TABLES,
    client_homework,
    goal_progress,
    homework_outcomes,
)
from rapport_goals.tables import metadata as goals_metadata
from rapport_shared.eventsourcing import projection
from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.persistence.schema import metadata as core_metadata
from rapport_shared.web.idempotency.table import idempotency_keys


async def test_rebuild_from_the_store_equals_the_live_projection(database_url, nats_server):
    now = datetime.now(UTC)
    session = session_closed(
        [agreed_goal(), agreed_goal(90, "Sleep by 23:00")],
        [
            agreed_homework(now - timedelta(hours=1), goal_index=0),
            agreed_homework(now + timedelta(days=1), goal_index=1),
            agreed_homework(now + timedelta(days=2)),
        ],
        closed_at=now - timedelta(days=1),
    )
    async with running_goals(database_url, nats_server.url) as goals:
        await goals.publish_session_closed(session)
        late, on_time, _ = await goals.client_homework(3)
        direct_goal = (
            await goals.http.post(
                f"/clinics/{CLINIC}/goals",
                json={
                    "client_id": "client-ben",
                    "counselor_id": "dr-okafor",
                    "description": "Walk outside",
                    "measure": "walks",
                    "target": "3 a week",
                    "due_date": str((now + timedelta(days=20)).date()),
                },
            )
        ).json()
        await goals.http.post(
            f"/clinics/{CLINIC}/homework",
            json={
                "client_id": "client-ben",
                "counselor_id": "dr-okafor",
                "instructions": "Log each walk",
                "due_at": (now + timedelta(days=1)).isoformat(),
                "goal_id": direct_goal["goal_id"],
            },
        )
        for homework in (late, on_time):
            done = await goals.http.post(
                f"/clinics/{CLINIC}/homework/{homework['homework_id']}/complete", json={}
            )
            assert done.status_code == 200, done.text
        live = await goals.projection_rows()
        assert [len(live[t.name]) for t in (goal_progress, client_homework)] == [3, 4]
        assert {r["completed_on_time"] for r in live["goal_progress"]} == {0, 1}

        # Damage the read model so a rebuild that did nothing could not pass.
        async with goals.runtime.transaction() as conn:
            await conn.execute(delete(client_homework))
            await conn.execute(update(goal_progress).values(homework_assigned=99))

        rebuilt = await goals.http.post("/admin/projections/progress/rebuild")
        assert rebuilt.status_code == 200, rebuilt.text

        # Each goal and homework with its private words, and the two completions.
        assert await goals.stored_event_count() == 2 * (3 + 4) + 2
        assert await goals.projection_rows() == live


async def test_the_migration_creates_exactly_the_declared_tables(database_url, nats_server):
    async with (
        running_goals(database_url, nats_server.url) as goals,
        goals.runtime.engine.connect() as conn,
    ):
        migrated = await conn.run_sync(lambda sync: _schema(inspect(sync)))
    shared_tables = set(core_metadata.tables) | {idempotency_keys.name, client_keys.name}
    # Every table the service declares: the projections and those a rebuild leaves alone.
    declared = goals_metadata.sorted_tables
    assert set(PROJECTION_TABLES) <= set(declared)
    expected_tables = {t.name for t in declared} | shared_tables
    assert set(migrated) == expected_tables | {"alembic_version"}
    for table in declared:
        columns, indexes = migrated[table.name]
        assert columns == {(c.name, c.nullable) for c in table.columns}
        assert indexes == {(i.name, tuple(c.name for c in i.columns)) for i in table.indexes}


def _schema(inspector):
    return {
        name: (
            {(c["name"], c["nullable"]) for c in inspector.get_columns(name)},
            {(i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(name)},
        )
        for name in inspector.get_table_names()
    }


async def test_rebuild_equals_live_with_statuses_reviews_measures_and_recurrences(
    database_url, nats_server
):
    now = datetime.now(UTC)
    scale = [{"level": n, "description": f"level {n}"} for n in (-2, -1, 0, 1, 2)]
    session = session_closed(
        [agreed_goal()],
        [agreed_homework(now - timedelta(days=1), goal_index=0)],
        closed_at=now - timedelta(days=2),
    )
    async with running_goals(
        database_url, nats_server.url, missed_check_interval_seconds=0.05, missed_grace_hours=0
    ) as goals:
        await goals.publish_session_closed(session)
        base = f"/clinics/{CLINIC}"
        goal = (
            await goals.http.post(
                f"{base}/goals",
                json={
                    "client_id": "client-ana",
                    "counselor_id": "dr-okafor",
                    "description": "Walk outside",
                    "measure": "walks",
                    "target": "3 a week",
                    "due_date": str((now + timedelta(days=20)).date()),
                    "gas_scale": scale,
                    "milestones": [
                        {"description": "first", "due_date": str((now + timedelta(days=5)).date())}
                    ],
                },
            )
        ).json()
        gid = goal["goal_id"]
        calls = [
            (
                "post",
                f"/goals/{gid}/reviews",
                {
                    "attained_level": 1,
                    "achievement_status": "improving",
                    "reviewed_by": "dr-okafor",
                },
            ),
            ("patch", f"/goals/{gid}", {"revised_by": "dr-okafor", "priority": "high"}),
            ("post", f"/goals/{gid}/status", {"lifecycle_status": "on-hold"}),
            ("post", "/clients/client-ana/measures", {"instrument": "PHQ-9", "items": [1] * 9}),
            (
                "post",
                "/clients/client-ana/measures",
                {"instrument": "SRS", "items": [5] * 4, "counselor_id": "dr-okafor"},
            ),
            (
                "post",
                "/homework",
                {
                    "client_id": "client-ana",
                    "counselor_id": "dr-okafor",
                    "instructions": "Breathe",
                    "due_at": (now + timedelta(hours=2)).isoformat(),
                    "goal_id": gid,
                    "recurrence": {
                        "frequency": "weekly",
                        "weekdays": ["mon", "thu"],
                        "until": str((now + timedelta(days=21)).date()),
                    },
                },
            ),
        ]
        for method, path, body in calls:
            response = await goals.http.request(method, f"{base}{path}", json=body)
            assert response.status_code in (200, 201), response.text
        recurring = response.json()["homework_id"]
        done = await goals.http.post(
            f"{base}/homework/{recurring}/complete", json={"journal": "ok"}
        )
        assert done.status_code == 200, done.text

        async def missed_recorded():
            rows = await goals.rows(homework_outcomes)
            return rows if len(rows) == 2 else None

        await eventually(missed_recorded)
        live = await goals.projection_rows()
        assert {name: len(rows) for name, rows in live.items()} == {
            "goal_progress": 2,
            "client_homework": 2,
            "goal_history": 5,
            "homework_outcomes": 2,
            "client_measures": 2,
            "risk_flags": 1,  # the PHQ-9's item 9 at 1
            "measure_asks": 0,
        }

        async with goals.runtime.transaction() as conn:
            for table in PROJECTION_TABLES:
                await conn.execute(delete(table))
        rebuilt = await goals.http.post("/admin/projections/progress/rebuild")
        assert rebuilt.status_code == 200, rebuilt.text
        assert await goals.projection_rows() == live


@pytest.mark.parametrize(
    "scenario",
    [
        test_rebuild_from_the_store_equals_the_live_projection,
        test_rebuild_equals_live_with_statuses_reviews_measures_and_recurrences,
    ],
)
async def test_a_rebuild_that_holds_no_rows_in_memory_reaches_the_same_rows(
    scenario, database_url, nats_server, monkeypatch
):
    # A rebuild writes its rows out whenever it holds too many; later changes to those rows then
    # go to the database as statements. With a bound of 0 every change after an insert does.
    monkeypatch.setattr(projection, "MAX_ROWS", 0)
    await scenario(database_url, nats_server)
