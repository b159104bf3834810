"""What the relay publishes, from where: on SQLite the events table is the outbox (only a bus
copy that differs from the log has an outbox row); on PostgreSQL every public event has one.
Either way the bus must carry the same messages, and nothing may be skipped or lost."""

import asyncio
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from uuid import uuid4

import pytest
from alembic import command
from alembic.config import Config
from shared_tests_support import goal, running_pipeline
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Connection

from rapport_devtools.testing import eventually
from rapport_shared.contracts import envelope, public_registry
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.sessions import SessionClosed
from rapport_shared.eventsourcing.crypto import seal
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.messaging import connection
from rapport_shared.messaging.outbox import CURSOR_SAVE_SECONDS, OutboxRelay, backlog
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.schema import events_table, outbox_cursor_table, outbox_table
from rapport_shared.telemetry.context import EventMetadata

GOALS_MIGRATIONS = (
    Path(__file__).parents[2] / "services/goals/src/rapport_goals/migrations"
)  # a real service's chain: 0001-0006, then 0007


class NoteKept(EventContract):
    """A private event: it stays in its service's store."""

    event_type: ClassVar[str] = "note-kept"
    service: ClassVar[str] = "goals"
    public: ClassVar[bool] = False


def registry_with_a_private_event():
    registry = public_registry()
    registry.register(NoteKept)
    return registry


def session_closed() -> SessionClosed:
    return SessionClosed(
        clinic_id="northside",
        session_id=uuid4(),
        client_id="c1",
        counselor_id="k1",
        closed_at=datetime.now(UTC),
        sealed_wording=seal(secrets.token_bytes(32), "the plan's words"),
    )


async def published(js, count: int, stream: str = "RAPPORT_GOALS") -> list:
    info = await js.stream_info(stream)
    assert info.state.messages == count
    return [await js.get_msg(stream, seq) for seq in range(1, count + 1)]


async def test_the_relay_publishes_exactly_what_the_append_encodes(database_url, nats_server):
    metadata = EventMetadata(
        correlation_id="corr-1",
        causation_id="cause-1",
        actor="k1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        stored = []
        for event in (goal("alice"), goal("bob")):
            async with p.engine.begin() as conn:
                stored += await p.store.append(conn, f"goal-{event.goal_id}", 0, [event], metadata)
        await p.relay.publish_batch()
        messages = await published(p.nc.jetstream(), 2)
    for message, event in zip(messages, stored, strict=True):
        expected = envelope.encode(
            event.event,
            event_id=event.event_id,
            stream_id=event.stream_id,
            occurred_at=event.occurred_at,
            metadata=event.metadata,
        )
        assert message.subject == expected.subject
        assert message.data == expected.payload  # byte for byte
        assert {name: message.headers[name] for name in expected.headers} == expected.headers


async def test_private_events_stay_home_and_a_transport_copy_goes_out_whole(
    database_url, nats_server
):
    registry = registry_with_a_private_event()
    store = EventStore(registry)
    closed = session_closed()
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        js = p.nc.jetstream()
        await connection.ensure_stream(js, "sessions")  # session-closed's
        relay = OutboxRelay(p.engine, js, registry)
        first, last = goal("alice"), goal("bob")
        for stream, event in [
            ("goal-1", first),
            ("note-1", NoteKept(clinic_id="northside")),
            ("session-1", closed),
            ("goal-2", last),
        ]:
            async with p.engine.begin() as conn:
                await store.append(conn, stream, 0, [event])
        async with p.engine.connect() as conn:
            assert (await backlog(conn))[0] == (4 if p.engine.dialect.name == "sqlite" else 3)
            outbox_rows = (await conn.execute(select(func.count(outbox_table.c.position)))).scalar()
            logged = (
                await conn.execute(
                    select(events_table.c.data).where(events_table.c.stream_id == "session-1")
                )
            ).scalar_one()
        # SQLite: an outbox row for the sealed copy only; PostgreSQL: one per public event.
        assert outbox_rows == (1 if p.engine.dialect.name == "sqlite" else 3)
        assert "sealed_wording" not in logged  # the seal is for the bus, not the log

        await relay.publish_batch()
        goals = await published(js, 2)
        sessions = await published(js, 1, "RAPPORT_SESSIONS")
        decoded = [envelope.decode(m.data, registry).contract for m in [*goals, *sessions]]
        assert decoded == [first, last, closed]  # the sealed wording included
        async with p.engine.connect() as conn:
            assert await backlog(conn) == (0, None)
            assert (await conn.execute(select(func.count(outbox_table.c.position)))).scalar() == 0


async def test_events_whose_publish_is_not_acknowledged_stay_waiting(database_url, nats_server):
    async with running_pipeline(database_url, nats_server.url, start=False) as p:
        js = p.nc.jetstream()
        for name in ("alice", "bob", "carol"):
            await p.append_goal(goal(name))
        await js.delete_stream("RAPPORT_GOALS")  # nothing takes the publishes now
        with pytest.raises(RuntimeError, match="3/3 publishes not acknowledged"):
            await p.relay.publish_batch()
        async with p.engine.connect() as conn:
            assert (await backlog(conn))[0] == 3

        await connection.ensure_stream(js, "goals")
        await p.relay.publish_batch()
        messages = await published(js, 3)
        names = [envelope.decode(m.data, public_registry()).contract.client_id for m in messages]
        assert names == ["alice", "bob", "carol"]
        async with p.engine.connect() as conn:
            assert await backlog(conn) == (0, None)


async def _saved_cursor(engine) -> int | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(outbox_cursor_table.c.position))).scalar()


async def test_a_busy_sqlite_relay_writes_its_cursor_a_few_times_not_once_per_publish(
    tmp_path, nats_server
):
    url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    async with running_pipeline(url, nats_server.url) as p:
        saves = 0
        save_cursor = p.relay.save_cursor

        async def counted_save() -> None:
            nonlocal saves
            saves += 1
            await save_cursor()

        p.relay.save_cursor = counted_save  # type: ignore[method-assign]
        started = time.monotonic()
        for number in range(1, 41):  # one relay round per append: each waits for its publish
            await p.append_goal(goal(f"client-{number}"))
            await eventually(lambda number=number: p.relay.published >= number, 5.0, 0.001)
        elapsed = time.monotonic() - started
        # At most one write per CURSOR_SAVE_SECONDS while busy (plus the first, at once).
        assert saves <= elapsed / CURSOR_SAVE_SECONDS + 2 < 40
        # With no commit to wake the relay, the cursor still reaches the last event when due.
        async with p.engine.connect() as conn:
            top = (await conn.execute(select(func.max(events_table.c.position)))).scalar()

        async def cursor_at_the_last_event() -> bool:
            return await _saved_cursor(p.engine) == top

        assert await eventually(cursor_at_the_last_event, 5.0)
        async with p.engine.connect() as conn:
            assert await backlog(conn) == (0, None)
        assert (await p.nc.jetstream().stream_info("RAPPORT_GOALS")).state.messages == 40


async def test_events_published_after_the_last_cursor_write_go_out_again_and_are_dropped(
    tmp_path, nats_server
):
    """A relay that stops without writing its cursor (a crash): the next one publishes those
    events again, with their ids, and JetStream's duplicate window keeps one copy of each."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    async with running_pipeline(url, nats_server.url, start=False) as p:
        js = p.nc.jetstream()
        crashing = OutboxRelay(p.engine, js, public_registry(), cursor_save_seconds=3600)
        task = asyncio.create_task(crashing.run())
        for number in range(1, 6):
            await p.append_goal(goal(f"client-{number}"))
            crashing.notify()
            await eventually(lambda n=number: crashing.published >= n, 5.0, 0.001)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await _saved_cursor(p.engine) == 1  # the first round's write; none since

        assert await p.relay.publish_batch() == 4  # read again and published again
        assert p.relay.published == 4
        assert (await js.stream_info("RAPPORT_GOALS")).state.messages == 5  # copies dropped
        assert await _saved_cursor(p.engine) == 5
        async with p.engine.connect() as conn:
            assert await backlog(conn) == (0, None)


def _alembic(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(GOALS_MIGRATIONS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def _event_id_indexed(connection: Connection) -> bool:
    indexes = inspect(connection).get_indexes("events")
    unique = inspect(connection).get_unique_constraints("events")
    return any(entry["column_names"] == ["event_id"] for entry in [*indexes, *unique])


async def test_migration_0007_publishes_what_was_waiting_and_drops_the_event_id_index(
    database_url, nats_server
):
    engine = create_engine(database_url)
    registry = public_registry()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, "0006")
            assert await conn.run_sync(_event_id_indexed)
            # As 0006's append left things: events 1-3, of which 1 had gone out already.
            now = datetime.now(UTC)
            events = [goal(name) for name in ("alice", "bob", "carol")]
            for position, event in enumerate(events, start=1):
                event_id, stream_id = str(uuid4()), f"goal-{event.goal_id}"
                meta = {"correlation_id": "c"}
                await conn.execute(
                    insert(events_table).values(
                        position=position,
                        event_id=event_id,
                        stream_id=stream_id,
                        version=1,
                        event_type=event.event_type,
                        schema_version=event.schema_version,
                        clinic_id=event.clinic_id,
                        occurred_at=now,
                        data=event.model_dump(mode="json"),
                        metadata=meta,
                    )
                )
                if position > 1:
                    message = envelope.encode(
                        event,
                        event_id=event_id,
                        stream_id=stream_id,
                        occurred_at=now,
                        metadata=meta,
                    )
                    await conn.execute(
                        insert(outbox_table).values(
                            position=position,
                            subject=message.subject,
                            headers=message.headers,
                            payload=message.payload,
                            created_at=now,
                        )
                    )
            await conn.run_sync(_alembic, "head")
            assert not await conn.run_sync(_event_id_indexed)
            assert (await conn.execute(select(outbox_cursor_table.c.position))).scalar() == 1
            assert (
                await conn.execute(select(func.count()).select_from(events_table))
            ).scalar() == 3

        nc = await connection.connect(nats_server.url, "test")
        try:
            js = nc.jetstream()
            await connection.ensure_stream(js, "goals")
            await OutboxRelay(engine, js, registry).publish_batch()
            messages = await published(js, 2)
        finally:
            await nc.close()
        names = [envelope.decode(m.data, registry).contract.client_id for m in messages]
        assert names == ["bob", "carol"]

        async with engine.begin() as conn:  # back to 0006, nothing waiting: allowed
            await conn.run_sync(_alembic, "0006", down=True)
            assert await conn.run_sync(_event_id_indexed)
    finally:
        await engine.dispose()


async def test_sqlite_refuses_to_go_back_to_0006_while_events_wait(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'goals.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, "head")
        async with engine.begin() as conn:
            await EventStore(public_registry()).append(conn, "goal-1", 0, [goal()])
        with pytest.raises(RuntimeError, match="1 events wait to be published"):
            async with engine.begin() as conn:
                await conn.run_sync(_alembic, "0006", down=True)
        async with engine.connect() as conn:  # the refusal changed nothing
            assert (await conn.execute(text("SELECT count(*) FROM outbox_cursor"))).scalar() == 1
    finally:
        await engine.dispose()
