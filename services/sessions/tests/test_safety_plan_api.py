"""A client's safety plan through the API, against a real nats-server and database (SQLite, and
PostgreSQL when configured): written with the client by a counselor on the care team, every
revision kept, read by the client and the clinic's staff, encrypted at rest, erased with the
client."""

import json
from typing import Any

import pytest
from sessions_support import CLINIC, OTHER_CLINIC, RunningService
from sqlalchemy import select

from rapport_devtools.testing import bearer, mint_test_token
from rapport_shared.persistence.schema import events_table

PLAN = f"/clinics/{CLINIC}/clients/alice/safety-plan"
FIRST = {
    "warning_signs": ["Sign-TEXT-1: not sleeping"],
    "internal_coping_strategies": ["a walk by the river"],
    "people_to_ask_for_help": [{"name": "Contact-TEXT-2", "phone": "+44 20 7946 0000"}],
    "professionals_and_crisis_lines": [{"name": "Samaritans", "phone": "116 123"}],
    "reasons_for_living": ["Reason-TEXT-3: my daughter"],
}
REVISED = {**FIRST, "making_the_environment_safe": ["pills kept by my sister"]}


def as_(role: str, sub: str) -> dict[str, str]:
    return bearer(mint_test_token(role, CLINIC, sub))


def revision(plan: dict[str, Any], by: str = "kim", **more: Any) -> dict[str, Any]:
    return {"written_with_client": True, "revised_by": by, "plan": plan, **more}


async def on_kims_team(service: RunningService, client_id: str = "alice") -> None:
    team = f"/clinics/{CLINIC}/clients/{client_id}/care-team"
    assigned = await service.http.put(team, json={"counselor_ids": ["kim"]})
    assert assigned.status_code == 200, assigned.text


def entries(content: dict[str, Any]) -> dict[str, Any]:
    """A plan as the API answers it: every part, the ones not given empty."""
    parts = (
        "warning_signs",
        "internal_coping_strategies",
        "people_and_places_that_distract",
        "people_to_ask_for_help",
        "professionals_and_crisis_lines",
        "making_the_environment_safe",
        "reasons_for_living",
    )
    return {part: content.get(part, []) for part in parts}


async def test_a_counselor_writes_and_revises_the_plan_and_every_revision_is_kept(
    service: RunningService,
) -> None:
    assert (await service.http.get(PLAN)).status_code == 404
    assert (await service.http.get(f"{PLAN}/revisions")).status_code == 404
    await on_kims_team(service)
    kim = as_("counselor", "kim")

    first = await service.http.put(PLAN, json=revision(FIRST), headers=kim)
    assert first.status_code == 200, first.text
    assert {k: first.json()[k] for k in ("client_id", "revision", "revised_by")} == {
        "client_id": "alice",
        "revision": 1,
        "revised_by": "kim",
    }
    second = await service.http.put(PLAN, json=revision(REVISED, expected_revision=1), headers=kim)
    assert second.status_code == 200, second.text
    assert (second.json()["revision"], second.json()["content"]) == (2, entries(REVISED))

    latest = (await service.http.get(PLAN, headers=kim)).json()
    assert latest == second.json()
    history = (await service.http.get(f"{PLAN}/revisions", headers=kim)).json()
    assert history["client_id"] == "alice"
    assert [(r["revision"], r["content"]) for r in history["revisions"]] == [
        (1, entries(FIRST)),
        (2, entries(REVISED)),
    ]
    assert history["revisions"][0]["revised_at"] == first.json()["revised_at"]

    # The client reads their own plan; another client, or another clinic, finds none.
    mine = await service.http.get(PLAN, headers=as_("client", "alice"))
    assert (mine.status_code, mine.json()) == (200, latest)
    assert (await service.http.get(f"{PLAN}/revisions", headers=as_("client", "alice"))).is_success
    for path in (PLAN, f"{PLAN}/revisions"):
        other = await service.http.get(path, headers=as_("client", "bob"))
        assert other.status_code == 404, path
    elsewhere = await service.http.get(f"/clinics/{OTHER_CLINIC}/clients/alice/safety-plan")
    assert elsewhere.status_code == 404
    # Staff of the clinic read it too.
    for role in ("auditor", "counselor"):
        assert (await service.http.get(PLAN, headers=as_(role, "someone"))).json() == latest


async def test_who_may_write_a_plan(service: RunningService) -> None:
    await on_kims_team(service)
    off_the_team = await service.http.put(
        PLAN, json=revision(FIRST, by="lee"), headers=as_("counselor", "lee")
    )
    assert off_the_team.status_code == 403, off_the_team.text
    # On the team, but in another counselor's name.
    in_anothers_name = await service.http.put(
        PLAN, json=revision(FIRST, by="lee"), headers=as_("counselor", "kim")
    )
    assert in_anothers_name.status_code == 403
    by_the_client = await service.http.put(
        PLAN, json=revision(FIRST, by="alice"), headers=as_("client", "alice")
    )
    assert by_the_client.status_code == 403
    # A clinic admin may write it, in a counselor's name.
    assert (await service.http.put(PLAN, json=revision(FIRST))).status_code == 200
    assert await service.count_events("safety-plan-revised") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({**revision(FIRST), "written_with_client": False}, "written_with_client"),
        pytest.param({**revision(FIRST), "written_with_client": "yes"}, "written_with_client"),
        pytest.param(revision({"warning_signs": ["x" * 501]}), "plan.warning_signs.0"),
        pytest.param(revision({"reasons_for_living": ["a"] * 21}), "plan.reasons_for_living"),
        pytest.param(
            revision({"people_to_ask_for_help": [{"name": "ann", "phone": "call me"}]}),
            "plan.people_to_ask_for_help.0.phone",
        ),
        pytest.param(revision({"hobbies": ["chess"]}), "plan.hobbies"),
        pytest.param(revision({}), "warning_signs"),
        pytest.param(revision(FIRST, expected_revision="1"), "expected_revision"),
    ],
)
async def test_a_plan_that_breaks_a_rule_is_422_naming_the_field(
    service: RunningService, body: dict[str, Any], field: str
) -> None:
    refused = await service.http.put(PLAN, json=body)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert await service.count_events("safety-plan-revised") == 0


async def test_a_revision_of_a_plan_that_moved_on_is_409(service: RunningService) -> None:
    assert (await service.http.put(PLAN, json=revision(FIRST, expected_revision=0))).is_success
    assert (await service.http.put(PLAN, json=revision(REVISED))).is_success
    stale = await service.http.put(PLAN, json=revision(FIRST, expected_revision=1))
    assert stale.status_code == 409, stale.text
    assert stale.json()["type"].endswith("/concurrent-modification")
    assert (await service.http.get(PLAN)).json()["revision"] == 2


async def test_the_plan_is_stored_encrypted_and_goes_with_the_client(
    service: RunningService,
) -> None:
    assert (await service.http.put(PLAN, json=revision(FIRST))).is_success
    bobs = f"/clinics/{CLINIC}/clients/bob/safety-plan"
    assert (await service.http.put(bobs, json=revision(REVISED))).is_success
    async with service.runtime.engine.connect() as conn:
        stored = [
            row.data
            for row in await conn.execute(
                select(events_table.c.data).where(
                    events_table.c.event_type == "safety-plan-revised"
                )
            )
        ]
    assert len(stored) == 2
    assert all(data["plan"].startswith("enc:v1:") for data in stored)
    for words in ("Sign-TEXT-1", "Contact-TEXT-2", "Reason-TEXT-3", "116 123"):
        assert words not in json.dumps(stored)

    erased = await service.http.post(
        f"/clinics/{CLINIC}/clients/alice/erasure", json={"erased_by": "admin-1"}
    )
    assert erased.status_code == 201, erased.text
    for path in (PLAN, f"{PLAN}/revisions"):
        gone = await service.http.get(path)
        assert (gone.status_code, gone.json()["errors"][0]["field"]) == (404, "client_id")
    again = await service.http.put(PLAN, json=revision(REVISED))
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "client_id"
    brief = (await service.http.get(f"/clinics/{CLINIC}/clients/alice/prep-brief")).json()
    assert brief["safety_plan"] == {"exists": False, "revision": None, "last_changed_at": None}
    # Bob's plan is untouched.
    assert (await service.http.get(bobs)).json()["content"] == entries(REVISED)
    bob = (await service.http.get(f"/clinics/{CLINIC}/clients/bob/prep-brief")).json()
    assert (bob["safety_plan"]["exists"], bob["safety_plan"]["revision"]) == (True, 1)
