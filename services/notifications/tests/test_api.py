"""The HTTP API and the schema, against a real database and nats-server."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from notifications_support import CLINIC, running_service
from sqlalchemy import MetaData, select

from rapport_notifications.bootstrap import MIGRATIONS
from rapport_notifications.tables import metadata, recipients
from rapport_shared.db import create_engine
from rapport_shared.idempotency import add_idempotency_table
from rapport_shared.migrations import migrate
from rapport_shared.schema import add_core_tables

PROBLEM = "application/problem+json"


async def test_a_recipient_email_address_is_saved_and_replaced(database_url, nats_server, tmp_path):
    async with running_service(database_url, nats_server.url, tmp_path) as service:
        url = f"/clinics/{CLINIC}/recipients/client-7"
        first = await service.client.put(url, json={"email": "  ana@example.org "})
        assert (first.status_code, first.json()) == (
            200,
            {"recipient_id": "client-7", "email": "ana@example.org"},
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
    add_idempotency_table(declared)
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
