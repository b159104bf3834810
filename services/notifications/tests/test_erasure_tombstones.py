"""Revision 0011: clients erased before the key ring kept this service's erasures (only a hash in
erased_clients) become key-ring tombstones when the event log names them, so they stay erased
once erased_clients is gone; and a downgrade hashes every tombstone again."""

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from alembic import command
from alembic.config import Config
from notifications_support import CLINIC
from sqlalchemy import Connection, MetaData, Table, insert, inspect, select

from rapport_notifications.bootstrap import MIGRATIONS, build_registry
from rapport_shared.contracts.notifications import ReminderScheduled
from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.persistence.db import create_engine

BEFORE = "0010_sealed_answers"
ERASED_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _to(connection: Connection, revision: str, step: str = "up") -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    (command.upgrade if step == "up" else command.downgrade)(config, revision)


def _hash(client_id: str) -> str:
    return hashlib.sha256(f"{CLINIC}/{client_id}".encode()).hexdigest()


def _erased_clients(connection: Connection) -> Table:
    return Table("erased_clients", MetaData(), autoload_with=connection)


def _hashed(connection: Connection, *clients: str) -> None:
    connection.execute(
        insert(_erased_clients(connection)),
        [{"client_key": _hash(client), "erased_at": ERASED_AT} for client in clients],
    )


def _tombstones(connection: Connection) -> dict[str, datetime]:
    rows = connection.execute(
        select(client_keys.c.client_id, client_keys.c.erased_at, client_keys.c.key).where(
            client_keys.c.clinic_id == CLINIC
        )
    )
    tombstones = {}
    for client_id, erased_at, key in rows:
        assert erased_at is not None and key is None, client_id
        tombstones[client_id] = erased_at.replace(tzinfo=erased_at.tzinfo or UTC)
    return tombstones


def scheduled(recipient_id: str, client_id: str) -> ReminderScheduled:
    return ReminderScheduled(
        clinic_id=CLINIC,
        reminder_id=uuid4(),
        recipient_id=recipient_id,
        kind="unsigned-note",
        due_at=ERASED_AT - timedelta(days=3),
        client_id=client_id,
    )


async def test_hashed_erasures_named_in_the_log_become_tombstones(database_url: str) -> None:
    engine = create_engine(database_url)
    store = EventStore(build_registry())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_to, BEFORE)
            # ann had a reminder of her own; bo was the client of a counselor's reminder;
            # zed never had one here; cy was not erased.
            for event in (scheduled("ann", "ann"), scheduled("k1", "bo"), scheduled("cy", "cy")):
                await store.append(conn, f"reminder-{event.reminder_id}", 0, [event])
            await conn.run_sync(_hashed, "ann", "bo", "zed")
        async with engine.begin() as conn:
            await conn.run_sync(_to, "head")
            assert await conn.run_sync(_tombstones) == {"ann": ERASED_AT, "bo": ERASED_AT}
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            assert "erased_clients" not in tables
        async with engine.begin() as conn:
            await conn.run_sync(_to, BEFORE, "down")
            hashes = await conn.run_sync(
                lambda sync: set(sync.execute(select(_erased_clients(sync).c.client_key)).scalars())
            )
            assert hashes == {_hash("ann"), _hash("bo")}
    finally:
        await engine.dispose()
