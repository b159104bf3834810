"""The command path's reads and writes on the driver (the event store's lean load_events, the
notes projection's updates through rapport_shared.eventsourcing.projection): they must read and
write exactly what the same statements through SQLAlchemy do, inside the write transaction (on
SQLite: sqlite3 itself) and outside it."""

import uuid
from datetime import UTC, datetime

from sessions_support import CLINIC, RunningService, plan
from sqlalchemy import String, select, type_coerce, update

from rapport_sessions.domain.model import stream_id
from rapport_sessions.tables import notes_sessions
from rapport_shared.eventsourcing.projection import Update, execute


async def test_the_lean_load_gives_what_the_store_loads(service: RunningService) -> None:
    created = await service.schedule(client_id="alice")
    session = f"/clinics/{CLINIC}/sessions/{created['session_id']}"
    noted = await service.http.post(f"{session}/notes", json={"body": "S: words kept encrypted"})
    assert noted.status_code == 201, noted.text
    closed = await service.http.post(f"{session}/close", json=plan(goals=2))
    assert closed.status_code == 200, closed.text
    runtime, stream = service.runtime, stream_id(uuid.UUID(created["session_id"]))

    async with runtime.transaction() as conn:  # the command path
        written = await runtime.store.load_events(conn, stream)
        assert written == [stored.event for stored in await runtime.store.load(conn, stream)]
    # The key lookup runs on the driver, past SQLAlchemy's events: counted at the key ring.
    keys = runtime.store.keys
    key_reads: list[tuple[str, str]] = []
    look_up = keys._row

    async def counted(conn: object, clinic_id: str, client_id: str) -> object:
        key_reads.append((clinic_id, client_id))
        return await look_up(conn, clinic_id, client_id)

    async with runtime.engine.connect() as conn:  # a read (the session view)
        keys._row = counted
        try:
            read = await runtime.store.load_events(conn, stream)
        finally:
            del keys._row
        # Two encrypted events (the note, the plan's words), one client: one key lookup.
        assert key_reads == [(CLINIC, "alice")]
        assert read == [stored.event for stored in await runtime.store.load(conn, stream)]
    assert [event.event_type for event in read] == [
        "session-scheduled",
        "note-recorded",
        "session-closed",
        "plan-worded",
    ]
    assert "words kept encrypted" in str(read[1])  # decrypted, as store.load gives it
    async with runtime.transaction() as conn:
        assert await runtime.store.load_events(conn, "session-none") == []


async def test_an_update_on_the_driver_stores_what_sqlalchemy_stores(
    service: RunningService,
) -> None:
    first = uuid.UUID((await service.schedule())["session_id"])
    second = uuid.UUID((await service.schedule())["session_id"])
    values = {
        "status": "closed",
        "closed_at": datetime(2030, 1, 7, 9, 30, 15, 250000, tzinfo=UTC),
        "next_session_at": None,
    }
    runtime = service.runtime
    async with runtime.transaction() as conn:
        await execute(conn, Update(notes_sessions, first, values))
        await conn.execute(
            update(notes_sessions).where(notes_sessions.c.session_id == second).values(**values)
        )
    # Read back through SQLAlchemy's types, and (SQLite) as the very text stored.
    changed = select(notes_sessions.c.status, notes_sessions.c.closed_at)
    changed = changed.add_columns(notes_sessions.c.next_session_at)
    stored = changed.add_columns(type_coerce(notes_sessions.c.closed_at, String))
    async with runtime.engine.connect() as conn:
        rows = [
            (await conn.execute(stored.where(notes_sessions.c.session_id == key))).one()
            for key in (first, second)
        ]
    assert rows[0] == rows[1]
    status, closed_at, next_session_at, _ = rows[0]
    assert (status, next_session_at) == ("closed", None)
    assert closed_at.replace(tzinfo=UTC) == values["closed_at"]  # SQLite's come back naive
