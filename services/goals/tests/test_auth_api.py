"""Authorization in the goals service: its own copy of the care teams, kept from the sessions
service's care-team-changed events, decides who writes; a client reaches only their own
record, and cannot probe another client's ids."""

import uuid

from goals_support import CLINIC, RunningGoals, running_goals

from rapport_devtools.testing import bearer, eventually, mint_test_token

KIM = bearer(mint_test_token("counselor", CLINIC, "kim"))


def _homework(client: str) -> dict[str, str]:
    return {
        "client_id": client,
        "counselor_id": "kim",
        "instructions": "breathe",
        "due_at": "2030-01-01T09:00:00Z",
    }


async def _team(goals: RunningGoals, client: str, *counselors: str) -> None:
    """Published only: the tests wait for the copy themselves."""
    await goals.publish_care_team(client, *counselors, wait=False)


async def test_writes_follow_the_care_team_from_the_sessions_events(database_url, nats_server):
    async with running_goals(database_url, nats_server.url) as goals:
        refused = await goals.http.post(
            f"/clinics/{CLINIC}/homework", json=_homework("alice"), headers=KIM
        )
        assert refused.status_code == 403, refused.text

        await _team(goals, "alice", "kim", "lee")

        async def kim_may_assign() -> bool:
            response = await goals.http.post(
                f"/clinics/{CLINIC}/homework", json=_homework("alice"), headers=KIM
            )
            return response.status_code == 201

        await eventually(kim_may_assign)
        # Removed from the team (the event carries the whole list): refused again.
        await _team(goals, "alice", "lee")

        async def kim_refused() -> bool:
            response = await goals.http.post(
                f"/clinics/{CLINIC}/homework", json=_homework("alice"), headers=KIM
            )
            return response.status_code == 403

        await eventually(kim_refused)


async def test_a_client_records_own_measures_and_cannot_probe_anothers_ids(
    database_url, nats_server
):
    alice = bearer(mint_test_token("client", CLINIC, "alice"))
    bob = bearer(mint_test_token("client", CLINIC, "bob"))
    measure_id = str(uuid.uuid4())
    body = {"measure_id": measure_id, "instrument": "PHQ-9", "items": [1] * 9}
    async with running_goals(database_url, nats_server.url) as goals:
        own = await goals.http.post(
            f"/clinics/{CLINIC}/clients/alice/measures", json=body, headers=alice
        )
        assert own.status_code == 201, own.text
        # bob reusing alice's measure id on his own record: "not found", not "conflict".
        probe = await goals.http.post(
            f"/clinics/{CLINIC}/clients/bob/measures", json=body, headers=bob
        )
        assert probe.status_code == 404, probe.text
        assert probe.json()["errors"][0]["field"] == "measure_id"
        # ...and on alice's record: nothing of hers exists for him.
        other = await goals.http.post(
            f"/clinics/{CLINIC}/clients/alice/measures", json=body, headers=bob
        )
        assert other.status_code == 404
        progress = await goals.http.get(f"/clinics/{CLINIC}/clients/alice/progress", headers=bob)
        assert progress.status_code == 404 and measure_id not in progress.text
