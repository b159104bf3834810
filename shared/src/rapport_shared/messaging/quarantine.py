"""Events the broker refuses for good, set aside so that the ones after them still go out.

The relay publishes a service's events in order. An event the broker will never take (larger
than the server's max_payload or the stream's max_msg_size, say) retried in front of the others
would hold back every later event of the service, in every clinic. So the relay tells a refusal
(something about this one message, that retrying cannot change) from a transient failure (the
broker away or busy, which the next events would meet too): it retries the latter, and moves a
refused event to the outbox_quarantine table with the reason, then goes on. An operator sees
them in /metrics (rapport_outbox_quarantined), `rapport status` and `rapport quarantine list`,
fixes the cause (e.g. raises the limit) and replays them, with their own event ids, or discards
them.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts.envelope import OutgoingMessage
from rapport_shared.persistence.schema import outbox_quarantine_table

# What nats-py puts around the headers on the wire (NATS/1.0 line, ": " and CRLF per header,
# a blank line); the server counts headers and payload together against max_payload.
_HEADER_LINE = len(b"NATS/1.0\r\n")
_HEADER_END = len(b"\r\n")
_PER_HEADER = len(b": \r\n")

# JetStream answers a publish it will not store with an API error. Code 400 is about the
# message itself (10054 "message size exceeds maximum allowed", the stream's max_msg_size;
# "header size exceeds maximum"; ...): the same message is refused every time, the next one
# need not be. Codes 500 and 503 (store failure, insufficient resources, no stream leader) are
# the broker's state, which every later event meets too: retried. (One 400 is the stream's
# state: a sealed stream refuses everything. Its events are then all quarantined, none lost,
# and replayed once an operator has unsealed it or made another.)
_MESSAGE_REFUSED = 400


def wire_size(message: OutgoingMessage) -> int:
    """The bytes the server counts against its max_payload: headers and payload together."""
    headers = sum(len(k.strip()) + len(v.strip()) + _PER_HEADER for k, v in message.headers.items())
    return len(message.payload) + _HEADER_LINE + headers + _HEADER_END


def oversized(message: OutgoingMessage, max_payload: int) -> str | None:
    """Checked before sending: a message over the server's max_payload is not answered, the
    server closes the connection, and every publish pipelined with it would fail with it (and
    again after each reconnect). nats-py checks the payload alone, not the headers."""
    size = wire_size(message)
    if size <= max_payload:
        return None
    return f"message of {size} bytes exceeds the broker's max_payload of {max_payload} bytes"


def refusal(error: BaseException) -> str | None:
    """Why the broker will never take this message, or None for a transient failure (retried).

    Transient, because the next events would fail the same way: an ack not received in time,
    no responders (all of a service's subjects are bound to its one stream, so nobody answering
    means that stream is missing or JetStream is restarting: a state of the broker), the
    connection lost or reconnecting, too many publishes in flight, JetStream 5xx. A publish
    without permission is never answered either (the server reports it on the connection): a
    timeout, retried, as it is the deployment's configuration, not the event's.
    Refused: what nats-py refuses to send (payload over max_payload, a subject or header it
    cannot encode), and JetStream's 400 answers."""
    if isinstance(error, nats.errors.MaxPayloadError):
        return "payload exceeds the broker's max_payload"
    if isinstance(error, nats.errors.BadSubjectError | nats.errors.BadHeaderError):
        return f"not a valid NATS message: {type(error).__name__} {error}"
    if isinstance(error, nats.js.errors.APIError) and error.code == _MESSAGE_REFUSED:
        return f"refused by JetStream: {error.description} (err_code {error.err_code})"
    return None


@dataclass(frozen=True)
class Refused:
    position: int
    message: OutgoingMessage
    reason: str


async def set_aside(conn: AsyncConnection, refused: list[Refused]) -> None:
    """Quarantine these events (in the caller's transaction, before they count as passed). An
    event quarantined again (a relay that crashed before noting the first time) replaces the
    row."""
    if not refused:
        return
    now = datetime.now(UTC)
    table = outbox_quarantine_table
    await conn.execute(delete(table).where(table.c.position.in_([r.position for r in refused])))
    await conn.execute(
        table.insert(),
        [
            {
                "position": r.position,
                "event_id": r.message.headers.get("Nats-Msg-Id"),
                "subject": r.message.subject,
                "headers": r.message.headers,
                "payload": r.message.payload,
                "reason": r.reason,
                "quarantined_at": now,
            }
            for r in refused
        ],
    )


async def count(conn: AsyncConnection) -> int:
    return int(
        (await conn.execute(select(func.count()).select_from(outbox_quarantine_table))).scalar_one()
    )


async def listing(conn: AsyncConnection) -> list[dict[str, Any]]:
    table = outbox_quarantine_table
    rows = await conn.execute(select(table).order_by(table.c.position))
    return [summary(row._asdict()) for row in rows]


async def find(conn: AsyncConnection, position: int) -> dict[str, Any] | None:
    table = outbox_quarantine_table
    row = (await conn.execute(select(table).where(table.c.position == position))).first()
    return None if row is None else row._asdict()


def summary(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("position", "event_id", "subject", "reason", "quarantined_at")
    return {key: row[key] for key in keys} | {"bytes": len(bytes(row["payload"]))}


async def republish(
    js: JetStreamContext, row: dict[str, Any], *, max_payload: int, ack_timeout: float = 5.0
) -> str | None:
    """Publish a quarantined event again, as it was (its Nats-Msg-Id is its event id): None once
    JetStream acknowledged it, or why it was refused again. A transient failure raises as it
    is. Outside any transaction: on SQLite a write transaction held across the ack would hold
    up every command."""
    message = OutgoingMessage(row["subject"], bytes(row["payload"]), dict(row["headers"]))
    reason = oversized(message, max_payload)
    if reason is not None:
        return reason
    try:
        await js.publish(
            message.subject, message.payload, timeout=ack_timeout, headers=message.headers
        )
    except Exception as error:
        reason = refusal(error)
        if reason is None:
            raise
        return reason
    return None


async def note_refused_again(conn: AsyncConnection, position: int, reason: str) -> None:
    table = outbox_quarantine_table
    await conn.execute(update(table).where(table.c.position == position).values(reason=reason))


async def discard(conn: AsyncConnection, position: int) -> None:
    table = outbox_quarantine_table
    await conn.execute(delete(table).where(table.c.position == position))
