"""CloudEvents 1.0 envelope in structured content mode, per the CloudEvents NATS protocol binding.

The whole event (attributes + data) is the JSON message payload, with the NATS header
Content-Type: application/cloudevents+json. Nats-Msg-Id carries the event id so JetStream drops
a republished copy inside its duplicate window; consumers drop later copies by event id.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic_core

from rapport_shared.contracts.base import (
    EventContract,
    EventRegistry,
    UnknownEventType,
    cloudevent_type,
)
from rapport_shared.contracts.subjects import event_subject

CONTENT_TYPE = "application/cloudevents+json"
SPEC_VERSION = "1.0"


class MalformedEvent(ValueError):
    """The message is not a Rapport CloudEvent: a permanent failure, never retried."""


@dataclass(frozen=True)
class OutgoingMessage:
    subject: str
    payload: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class IncomingEvent:
    event_id: str
    event_type: str
    schema_version: int
    source: str
    subject: str
    time: str
    correlation_id: str | None
    causation_id: str | None
    traceparent: str | None
    contract: EventContract


def encode(
    event: EventContract,
    *,
    event_id: str,
    stream_id: str,
    occurred_at: datetime,
    metadata: dict[str, str],
    data_json: str | None = None,
) -> OutgoingMessage:
    """data_json: the event's own JSON when the caller has it already (the event store does)."""
    return encode_logged(
        LoggedEvent(
            event_id=event_id,
            stream_id=stream_id,
            service=event.service,
            event_type=event.event_type,
            schema_version=event.schema_version,
            clinic_id=event.clinic_id,
            occurred_at=occurred_at,
            data_json=event.model_dump_json() if data_json is None else data_json,
            metadata=metadata,
        )
    )


@dataclass(frozen=True)
class LoggedEvent:
    """An event as its service's log holds it: all a message is made of."""

    event_id: str
    stream_id: str
    service: str
    event_type: str
    schema_version: int
    clinic_id: str
    occurred_at: datetime
    data_json: str
    metadata: dict[str, str]


def encode_logged(event: LoggedEvent) -> OutgoingMessage:
    """The message for an event as logged: the SQLite relay makes it from the events table, so it
    must be, byte for byte, what encode() gives for the event when it is appended."""
    metadata = event.metadata
    cloudevent: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event.event_id,
        "source": f"/rapport/{event.service}/{event.clinic_id}",
        "type": cloudevent_type(event.service, event.event_type, event.schema_version),
        "subject": event.stream_id,
        "time": event.occurred_at.isoformat(),
        "datacontenttype": "application/json",
        "clinicid": event.clinic_id,
        "correlationid": metadata.get("correlation_id"),
    }
    if metadata.get("causation_id"):
        cloudevent["causationid"] = metadata["causation_id"]
    headers = {"Content-Type": CONTENT_TYPE, "Nats-Msg-Id": event.event_id}
    if metadata.get("traceparent"):
        cloudevent["traceparent"] = metadata["traceparent"]
        headers["traceparent"] = metadata["traceparent"]
    # The data member spliced in as the event's own JSON: encoding the event once, not as a
    # dict and then again as part of the whole.
    attributes = pydantic_core.to_json(cloudevent)
    return OutgoingMessage(
        subject=event_subject(event.clinic_id, event.service, event.event_type),
        payload=b"".join((attributes[:-1], b',"data":', event.data_json.encode(), b"}")),
        headers=headers,
    )


def parse_type(cloudevent_type: str) -> tuple[str, str, int]:
    """'rapport.goals.goal-agreed.v1' -> ('goals', 'goal-agreed', 1)."""
    parts = cloudevent_type.split(".")
    if len(parts) != 4 or parts[0] != "rapport" or not parts[3].startswith("v"):
        raise MalformedEvent(f"type {cloudevent_type!r} is not rapport.<service>.<event>.v<N>")
    try:
        version = int(parts[3][1:])
    except ValueError:
        raise MalformedEvent(f"type {cloudevent_type!r} has no numeric version") from None
    return parts[1], parts[2], version


def decode(payload: bytes, registry: EventRegistry) -> IncomingEvent:
    try:
        # pydantic-core's parser: a quarter cheaper per payload than the json module's
        cloudevent = pydantic_core.from_json(payload)
    except ValueError as error:
        raise MalformedEvent(f"payload is not JSON: {error}") from None
    if not isinstance(cloudevent, dict):
        raise MalformedEvent("payload is not a JSON object")
    missing = [k for k in ("specversion", "id", "source", "type", "data") if k not in cloudevent]
    if missing:
        raise MalformedEvent(f"CloudEvent lacks {', '.join(missing)}")
    if cloudevent["specversion"] != SPEC_VERSION:
        raise MalformedEvent(f"specversion {cloudevent['specversion']!r} is not 1.0")
    _, event_type, version = parse_type(str(cloudevent["type"]))
    try:
        contract = registry.load(event_type, version, cloudevent["data"])
    except UnknownEventType:
        raise
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise MalformedEvent(f"data does not match {event_type} v{version}: {error}") from None
    return IncomingEvent(
        event_id=str(cloudevent["id"]),
        event_type=event_type,
        schema_version=version,
        source=str(cloudevent["source"]),
        subject=str(cloudevent.get("subject", "")),
        time=str(cloudevent.get("time", "")),
        correlation_id=cloudevent.get("correlationid"),
        causation_id=cloudevent.get("causationid"),
        traceparent=cloudevent.get("traceparent"),
        contract=contract,
    )
