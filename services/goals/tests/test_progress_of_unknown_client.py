"""A client's progress is 404 when the goals service does not know the client: nothing of theirs
in its read model (no goal, homework or measure) and no care team, or erased. Known from any one
of those, an empty progress is an answer (200), not an absence."""

from datetime import UTC, datetime

from goals_support import CLINIC, running_goals

from rapport_devtools.testing import bearer, eventually, mint_test_token
from rapport_shared.contracts.sessions import CareTeamChanged

BASE = f"/clinics/{CLINIC}/clients"


async def test_an_unknown_clients_progress_is_404_and_a_known_ones_is_an_answer(
    database_url, nats_server
):
    async with running_goals(database_url, nats_server.url) as goals:
        unknown = await goals.http.get(f"{BASE}/nobody-here/progress")
        assert unknown.status_code == 404, unknown.text
        assert unknown.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in unknown.json()["errors"]] == ["client_id"]

        # Staff see the same answer a client gets for someone else's progress: a client cannot
        # learn from the body whether the other client exists.
        dora = bearer(mint_test_token("client", CLINIC, "dora"))
        theirs = await goals.http.get(f"{BASE}/nobody-here/progress", headers=dora)
        assert theirs.content == unknown.content

        # Known from a measure alone (no goal, no homework): their progress, with no goals.
        measured = await goals.http.post(
            f"{BASE}/dora/measures", json={"instrument": "GAD-7", "items": [1] * 7}, headers=dora
        )
        assert measured.status_code == 201, measured.text
        own = await goals.http.get(f"{BASE}/dora/progress", headers=dora)
        assert own.status_code == 200, own.text
        assert (own.json()["goals"], list(own.json()["measures"])) == ([], ["GAD-7"])

        # Known from a care team alone (assigned, nothing agreed yet): an empty progress.
        team = CareTeamChanged(
            clinic_id=CLINIC,
            client_id="eli",
            counselor_ids=("kim",),
            changed_by="admin",
            changed_at=datetime.now(UTC),
        )
        assert (await goals.http.get(f"{BASE}/eli/progress")).status_code == 404
        await goals.publish_as_sessions(team, f"care-team-{CLINIC}-eli", team.changed_at)

        async def eli_known() -> bool:
            return (await goals.http.get(f"{BASE}/eli/progress")).status_code == 200

        await eventually(eli_known)
        empty = (await goals.http.get(f"{BASE}/eli/progress")).json()
        assert (empty["goals"], empty["measures"], empty["total"]["homework_assigned"]) == (
            [],
            {},
            0,
        )
        # Known in northside is not known in riverside.
        elsewhere = await goals.http.get("/clinics/riverside/clients/dora/progress")
        assert elsewhere.status_code == 404

        # Erased, the client is unknown again, care team or not.
        await goals.publish_client_erased("eli")
        await goals.publish_client_erased("dora")

        async def both_forgotten() -> bool:
            answers = [await goals.http.get(f"{BASE}/{c}/progress") for c in ("eli", "dora")]
            return all(a.status_code == 404 for a in answers)

        await eventually(both_forgotten)
