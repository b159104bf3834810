"""Hostile and careless input against the real notifications service."""

from notifications_support import running_service

CLINIC = "northside"


async def test_edge_validation_and_problem_json(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as svc:
        url = f"/clinics/{CLINIC}/recipients/alice"
        saved = await svc.client.put(url, json={"email": "alice@example.org"})
        assert saved.status_code == 200
        # PUT is idempotent by itself; the key is only honoured on POST and PATCH.
        for body, field in (
            ({"email": "a" * 250 + "@example.org"}, "email"),
            ({"email": "alice@example.org", "name": "Alice"}, "name"),
        ):
            refused = await svc.client.put(url, json=body)
            assert refused.status_code == 422
            assert refused.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in refused.json()["errors"]] == [field]
        wrong_type = await svc.client.put(
            url, content=b"email=alice@example.org", headers={"Content-Type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        huge = await svc.client.put(url, json={"email": "x" * 300_000})
        assert huge.status_code == 413
        bad_recipient = await svc.client.get(f"/clinics/{CLINIC}/recipients/a%20b/reminders")
        assert bad_recipient.status_code == 422
        assert [e["field"] for e in bad_recipient.json()["errors"]] == ["recipient_id"]
        reminders = await svc.client.get(f"/clinics/{CLINIC}/recipients/alice/reminders")
        assert reminders.status_code == 200
