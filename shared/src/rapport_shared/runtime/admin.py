"""Operator endpoints every service has (the `rapport` CLI drives them): status, dead letters
(list, show, replay, discard), the outbox quarantine (the same four) and projection rebuilds."""

import dataclasses
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts.base import UnknownEventType
from rapport_shared.contracts.envelope import MalformedEvent, decode
from rapport_shared.contracts.errors import DomainError, InvalidState, NotFound
from rapport_shared.eventsourcing.projection import cycle_collection_paused
from rapport_shared.messaging import quarantine
from rapport_shared.persistence.schema import dead_letters_table
from rapport_shared.runtime.metrics import take_snapshot
from rapport_shared.web.problems import NOT_READY

if TYPE_CHECKING:
    from rapport_shared.runtime.service import ServiceRuntime


# Bounded at the edge: a larger id overflows the database's integer and answered 500.
DeadLetterId = Annotated[int, Path(ge=1, le=2**63 - 1)]
EventPosition = Annotated[int, Path(ge=1, le=2**63 - 1)]
ProjectionName = Annotated[str, Path(max_length=100)]
ConsumerName = Annotated[str | None, Query(max_length=200)]


class ServiceUnavailable(DomainError):
    # The same kind as /readyz's refusal.
    status = NOT_READY.status
    title = NOT_READY.title
    problem_type = NOT_READY.uri


def admin_router(runtime: "ServiceRuntime") -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.get("/status")
    async def status() -> dict[str, Any]:
        snapshot = await take_snapshot(runtime.engine, runtime.jetstream(), runtime.consumers)
        ready, parts = await runtime.readiness()
        return {
            "service": runtime.name,
            "ready": ready,
            "broker": parts["broker"],
            **dataclasses.asdict(snapshot),
        }

    @router.get("/dead-letters")
    async def list_dead_letters(consumer: ConsumerName = None) -> list[dict[str, Any]]:
        query = select(dead_letters_table).order_by(dead_letters_table.c.id)
        if consumer is not None:
            query = query.where(dead_letters_table.c.consumer == consumer)
        async with runtime.engine.connect() as conn:
            return [_summary(row._mapping) for row in await conn.execute(query)]

    @router.get("/dead-letters/{dead_letter_id}")
    async def show_dead_letter(dead_letter_id: DeadLetterId) -> dict[str, Any]:
        async with runtime.engine.connect() as conn:
            row = await _dead_letter(conn, dead_letter_id)
        return _with_message(_summary(row), row)

    @router.post("/dead-letters/{dead_letter_id}/replay")
    async def replay_dead_letter(dead_letter_id: DeadLetterId) -> dict[str, Any]:
        """Run the event through its consumer's handler again, e.g. after a fix was deployed."""
        async with runtime.transaction() as conn:
            row = await _dead_letter(conn, dead_letter_id)
            runner = next((c for c in runtime.consumers if c.name == row["consumer"]), None)
            if runner is None:
                raise ServiceUnavailable(f"consumer {row['consumer']} is not running yet")
            try:
                incoming = decode(bytes(row["payload"]), runtime.registry)
            except (MalformedEvent, UnknownEventType) as error:
                raise InvalidState(f"still not a valid event: {error}") from None
            try:
                applied = await runner.apply_event(conn, incoming)
            except Exception as error:  # noqa: BLE001 - reported, and the dead letter stays
                raise InvalidState(f"replay failed again: {error!r}") from None
            await conn.execute(
                delete(dead_letters_table).where(dead_letters_table.c.id == dead_letter_id)
            )
        return {"id": dead_letter_id, "replayed": applied, "already_applied": not applied}

    @router.delete("/dead-letters/{dead_letter_id}", status_code=204)
    async def discard_dead_letter(dead_letter_id: DeadLetterId) -> Response:
        async with runtime.transaction() as conn:
            await _dead_letter(conn, dead_letter_id)
            await conn.execute(
                delete(dead_letters_table).where(dead_letters_table.c.id == dead_letter_id)
            )
        return Response(status_code=204)

    @router.get("/outbox/quarantine")
    async def list_quarantined() -> list[dict[str, Any]]:
        async with runtime.engine.connect() as conn:
            return await quarantine.listing(conn)

    @router.get("/outbox/quarantine/{position}")
    async def show_quarantined(position: EventPosition) -> dict[str, Any]:
        async with runtime.engine.connect() as conn:
            row = await _quarantined(conn, position)
        return _with_message(quarantine.summary(row), row)

    @router.post("/outbox/quarantine/{position}/replay")
    async def replay_quarantined(position: EventPosition) -> dict[str, Any]:
        """Publish the event again, with its own event id, once its cause is fixed (e.g. the
        broker's max_payload or the stream's max_msg_size raised)."""
        js = runtime.jetstream()
        if js is None or runtime.nc is None:
            raise ServiceUnavailable("not connected to the broker")
        async with runtime.engine.connect() as conn:
            row = await _quarantined(conn, position)
        try:
            reason = await quarantine.republish(js, row, max_payload=runtime.nc.max_payload)
        except Exception as error:  # noqa: BLE001 - transient: reported, and it stays
            raise ServiceUnavailable(f"not published, try again: {error!r}") from None
        async with runtime.transaction() as conn:
            if reason is not None:
                await quarantine.note_refused_again(conn, position, reason)
            else:
                await quarantine.discard(conn, position)
        if reason is not None:
            raise InvalidState(f"refused again: {reason}")
        return {"position": position, "event_id": row["event_id"], "published": True}

    @router.delete("/outbox/quarantine/{position}", status_code=204)
    async def discard_quarantined(position: EventPosition) -> Response:
        """Give up on the event: it stays in the service's own log, never on the bus."""
        async with runtime.transaction() as conn:
            await _quarantined(conn, position)
            await quarantine.discard(conn, position)
        return Response(status_code=204)

    @router.post("/projections/{name}/rebuild")
    async def rebuild(name: ProjectionName) -> dict[str, Any]:
        rebuild_projection = runtime.projections.get(name)
        if rebuild_projection is None:
            known = ", ".join(sorted(runtime.projections)) or "none"
            raise NotFound(f"no projection {name!r} (known: {known})", field="name")
        started = time.perf_counter()
        with cycle_collection_paused():
            await rebuild_projection()
        return {"projection": name, "seconds": round(time.perf_counter() - started, 3)}

    return router


async def _dead_letter(conn: AsyncConnection, dead_letter_id: int) -> Any:
    row = (
        await conn.execute(
            select(dead_letters_table).where(dead_letters_table.c.id == dead_letter_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no dead letter {dead_letter_id}")
    return row._mapping


async def _quarantined(conn: AsyncConnection, position: int) -> dict[str, Any]:
    row = await quarantine.find(conn, position)
    if row is None:
        raise NotFound(f"no quarantined event at position {position}")
    return row


def _with_message(summary: dict[str, Any], row: Any) -> dict[str, Any]:
    """A dead letter's or quarantined event's summary, with the message itself."""
    return {
        **summary,
        "headers": row["headers"],
        "payload": bytes(row["payload"]).decode("utf-8", errors="replace"),
    }


def _summary(row: Any) -> dict[str, Any]:
    return {
        key: row[key]
        for key in (
            "id",
            "consumer",
            "stream_sequence",
            "subject",
            "event_id",
            "error",
            "deliveries",
            "dead_at",
        )
    }
