"""The HTTP API and the schema, against a real database and nats-server."""

import base64

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from notifications_support import CLINIC, running_service
from sqlalchemy import MetaData, select

from rapport_notifications.bootstrap import MIGRATIONS
from rapport_notifications.tables import metadata, recipients
from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.migrations import migrate
from rapport_shared.persistence.schema import add_access_tables, add_core_tables
from rapport_shared.web.idempotency.table import add_idempotency_table

PROBLEM = "application/problem+json"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()


async def test_a_recipient_email_address_is_saved_and_replaced(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        url = f"/clinics/{CLINIC}/recipients/client-7"
        first = await service.client.put(url, json={"email": "  ana@example.org "})
        # The old request still works; the answer only gained fields.
        assert (first.status_code, first.json()) == (
            200,
            {
                "recipient_id": "client-7",
                "email": "ana@example.org",
                "time_zone": "UTC",
                "quiet_hours": None,
                "webhook_url": None,
                "preferences": {},
            },
        )
        await service.client.put(url, json={"email": "ana.new@example.org"})
        async with service.runtime.engine.connect() as conn:
            rows = (await conn.execute(select(recipients))).all()
        assert [(r.clinic_id, r.recipient_id, r.email) for r in rows] == [
            (CLINIC, "client-7", "ana.new@example.org")
        ]


BAD_PUTS = [
    ({"email": "not-an-address"}, "client-7", CLINIC, "email"),
    ({"email": "ana@localhost"}, "client-7", CLINIC, "email"),
    ({"email": "a b@example.org"}, "client-7", CLINIC, "email"),
    ({}, "client-7", CLINIC, "email"),
    ({"email": "ana@example.org", "phone": "123"}, "client-7", CLINIC, "phone"),
    ({"email": "ana@example.org"}, "client-7", "North_Side", "clinic_id"),
    ({"email": "ana@example.org"}, "-client", CLINIC, "recipient_id"),
    ({"email": None, "time_zone": "Mars/Olympus"}, "c", CLINIC, "time_zone"),
    (
        {"email": None, "quiet_hours": {"start": "22:00", "end": "22:00"}},
        "c",
        CLINIC,
        "quiet_hours",
    ),
    (
        {"email": None, "quiet_hours": {"start": "25:00", "end": "07:00"}},
        "c",
        CLINIC,
        "quiet_hours.start",
    ),
    (
        {"email": None, "webhook": {"url": "ftp://x.org", "secret": SECRET}},
        "c",
        CLINIC,
        "webhook.url",
    ),
    (
        {"email": None, "webhook": {"url": "https://x.org", "secret": "whsec_c2hvcnQ="}},
        "c",
        CLINIC,
        "webhook.secret",
    ),
    (
        {"email": None, "webhook": {"url": "https://x.org", "secret": "s3cr3t"}},
        "c",
        CLINIC,
        "webhook.secret",
    ),
    (
        {"email": None, "preferences": {"homework-due": ["sms"]}},
        "c",
        CLINIC,
        "preferences.homework-due.0",
    ),
    (
        {"email": None, "preferences": {"birthday": ["email"]}},
        "c",
        CLINIC,
        "preferences.birthday.[key]",
    ),
]


async def test_bad_input_is_a_422_problem_naming_the_field_and_writes_nothing(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        for body, recipient_id, clinic_id, field in BAD_PUTS:
            response = await service.client.put(
                f"/clinics/{clinic_id}/recipients/{recipient_id}", json=body
            )
            assert response.status_code == 422, (body, recipient_id, clinic_id)
            assert response.headers["content-type"] == PROBLEM
            errors = response.json()["errors"]
            assert [e["field"] for e in errors] == [field]
            if field == "email" and body:
                assert errors[0]["message"] == "not an email address, e.g. alex@example.org"
        async with service.runtime.engine.connect() as conn:
            assert (await conn.execute(select(recipients))).all() == []


async def test_reminders_query_rejects_a_bad_clinic_id(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        response = await service.client.get("/clinics/a.b/recipients/client-7/reminders")
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["field"] == "clinic_id"
        empty = await service.reminders("nobody")
        assert empty == {
            "recipient_id": "nobody",
            "pending": [],
            "sent": [],
            "cancelled": [],
            "failed": [],
        }


async def test_the_migration_creates_exactly_the_declared_tables(database_url):
    declared = MetaData()
    add_core_tables(declared)
    add_access_tables(declared)
    add_idempotency_table(declared)
    client_keys.to_metadata(declared)  # they seal the stored Idempotency-Key answers
    for table in metadata.tables.values():
        table.to_metadata(declared)
    engine = create_engine(database_url)
    try:
        await migrate(engine, MIGRATIONS)
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync_conn: compare_metadata(MigrationContext.configure(sync_conn), declared)
            )
        assert differences == []
    finally:
        await engine.dispose()


async def test_recipient_settings_are_kept_unless_given_and_the_secret_is_never_shown(
    database_url, nats_server, tmp_path
):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        full = await service.set_recipient(
            "dr-okafor",
            email="okafor@example.org",
            time_zone="Europe/Berlin",
            quiet_hours={"start": "22:00", "end": "07:30"},
            webhook={"url": "https://hooks.example.org/rapport", "secret": SECRET},
            preferences={"unsigned-note": ["webhook", "feed"], "next-session": []},
        )
        assert full == {
            "recipient_id": "dr-okafor",
            "email": "okafor@example.org",
            "time_zone": "Europe/Berlin",
            "quiet_hours": {"start": "22:00", "end": "07:30"},
            "webhook_url": "https://hooks.example.org/rapport",
            "preferences": {"unsigned-note": ["webhook", "feed"], "next-session": []},
        }
        assert SECRET not in str(full)
        # An old-style request (the address only) changes the address only.
        changed = await service.set_recipient("dr-okafor", email="new@example.org")
        assert changed == {**full, "email": "new@example.org"}
        got = await service.client.get(f"/clinics/{CLINIC}/recipients/dr-okafor")
        assert got.json() == changed
        # null clears a setting.
        cleared = await service.set_recipient("dr-okafor", email=None, quiet_hours=None)
        assert (cleared["email"], cleared["quiet_hours"]) == (None, None)
        assert cleared["webhook_url"] == full["webhook_url"]

        unknown = await service.client.get(f"/clinics/{CLINIC}/recipients/nobody")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == PROBLEM
