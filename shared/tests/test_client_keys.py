"""A client's key is made on first use, once: whoever makes it first, everyone then uses it."""

from datetime import UTC, datetime

from shared_tests_support import engine_with
from sqlalchemy import insert, select

from rapport_shared.eventsourcing.crypto import KeyRing, client_keys


async def test_the_first_key_made_is_the_one_kept_and_returned(database_url):
    keys = KeyRing()
    async with engine_with(database_url, client_keys) as engine:
        async with engine.begin() as conn:
            made = await keys.key(conn, "northside", "ana", create=True)
            assert made is not None and len(made) == 32
            assert await keys.key(conn, "northside", "ana", create=True) == made
        async with engine.connect() as conn:
            stored = (await conn.execute(select(client_keys.c.key))).scalars().all()
            assert [bytes(key) for key in stored] == [made]
            assert await keys.key(conn, "northside", "ana") == made


async def test_a_writer_that_loses_the_race_for_the_first_key_uses_the_winners(
    database_url, monkeypatch
):
    keys = KeyRing()
    looked_up = keys._row

    async def not_there_yet(conn, clinic_id, client_id):
        # The lookup ran before the other writer's key was committed; the next one sees it.
        monkeypatch.setattr(keys, "_row", looked_up)
        return None

    async with engine_with(database_url, client_keys) as engine:
        winners = b"w" * 32
        async with engine.begin() as conn:
            await conn.execute(
                insert(client_keys).values(
                    clinic_id="northside",
                    client_id="ana",
                    key=winners,
                    created_at=datetime.now(UTC),
                )
            )
        monkeypatch.setattr(keys, "_row", not_there_yet)
        async with engine.begin() as conn:
            assert await keys.key(conn, "northside", "ana", create=True) == winners
        async with engine.connect() as conn:
            stored = (await conn.execute(select(client_keys.c.key))).scalars().all()
            assert [bytes(key) for key in stored] == [winners]


async def test_erased_among_answers_per_clinic_and_client(database_url):
    """The same client id in two clinics is two clients: erasing one erases only that one."""
    keys = KeyRing()
    now = datetime.now(UTC)
    async with engine_with(database_url, client_keys) as engine:
        async with engine.begin() as conn:
            kept = (("northside", "ana"), ("southside", "ana"), ("northside", "ben"))
            for clinic, client in kept:
                await keys.key(conn, clinic, client, create=True)
            await keys.destroy(conn, "northside", "ana", now)
            await keys.destroy(conn, "southside", "cy", now)  # never had a key: a tombstone
        async with engine.connect() as conn:
            asked = [
                ("northside", "ana"),
                ("southside", "ana"),
                ("northside", "ben"),
                ("southside", "cy"),
                ("westside", "dee"),
            ]
            assert await keys.erased_among(conn, asked) == {
                ("northside", "ana"),
                ("southside", "cy"),
            }
            assert await keys.erased_among(conn, []) == set()
