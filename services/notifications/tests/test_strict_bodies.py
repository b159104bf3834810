"""Strict bodies against the real notifications service (real database and nats-server): a value
of the wrong type is refused naming its field, never converted, and nothing is saved."""

from typing import Any

import httpx
import pytest
from notifications_support import running_service

CLINIC = "northside"
URL = f"/clinics/{CLINIC}/recipients/alice"


def errors_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"]: error["message"] for error in response.json()["errors"]}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        # Was: quiet hours from 01:00 to 08:00, read as seconds since midnight.
        (
            {"email": None, "quiet_hours": {"start": 3600, "end": "08:00"}},
            "quiet_hours.start",
            "must be a time of day, e.g. 21:30",
        ),
        (
            {"email": None, "quiet_hours": {"start": "22:00", "end": "28800"}},
            "quiet_hours.end",
            "must be a time of day, e.g. 21:30",
        ),
        ({"email": 42}, "email", "must be a string"),
        ({"email": None, "time_zone": 1}, "time_zone", "must be a string"),
        (
            {"email": None, "preferences": {"homework-due": "email"}},
            "preferences.homework-due",
            "must be a list",
        ),
        ({"email": None, "quiet_hours": "22:00-07:00"}, "quiet_hours", "must be a JSON object"),
    ],
)
async def test_recipient_settings_of_the_wrong_types_are_refused(
    database_url, nats_server, tmp_path, body, field, message
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        response = await svc.client.put(URL, json=body)
        assert errors_of(response) == {field: message}
        assert (await svc.client.get(URL)).status_code == 404  # nothing saved


@pytest.mark.parametrize("body", [b"null", b"[]", b'["alice@example.org"]', b'"alice@example.org"'])
async def test_a_body_that_is_not_an_object_is_named_as_the_body(
    database_url, nats_server, tmp_path, body
):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        response = await svc.client.put(
            URL, content=body, headers={"Content-Type": "application/json"}
        )
        assert errors_of(response) == {"body": "must be a JSON object"}


async def test_quiet_hours_as_text_are_still_taken(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        body: dict[str, Any] = {"email": None, "quiet_hours": {"start": "22:00", "end": "07:30"}}
        saved = await svc.client.put(URL, json=body)
        assert saved.status_code == 200, saved.text
        assert saved.json()["quiet_hours"] == {"start": "22:00", "end": "07:30"}


async def test_feed_items_to_mark_must_be_ids(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        marked = await svc.client.post(f"{URL}/feed/read", json={"item_ids": [7]})
        assert list(errors_of(marked)) == ["item_ids.0"]
