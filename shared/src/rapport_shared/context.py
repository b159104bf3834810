"""Request- and event-scoped context: the correlation id, the causing event and the actor.

HTTP middleware and the consumer runner set these; the event store reads them when it appends,
and the logging configuration adds them to every line.
"""

import contextlib
import re
import secrets
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import structlog

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)
_actor: ContextVar[str | None] = ContextVar("actor", default=None)
_traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)


_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def continue_trace(traceparent: str | None) -> str:
    """A W3C traceparent for the next hop: the same trace id with a new span id, or a new trace
    when there is none (or it is malformed), so every request and event can be followed."""
    match = _TRACEPARENT.match(traceparent or "")
    trace_id, flags = (match.group(1), match.group(3)) if match else (secrets.token_hex(16), "01")
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


@dataclass(frozen=True)
class EventMetadata:
    correlation_id: str
    causation_id: str | None = None
    actor: str | None = None
    traceparent: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def current_metadata() -> EventMetadata:
    return EventMetadata(
        correlation_id=_correlation_id.get() or str(uuid.uuid4()),
        causation_id=_causation_id.get(),
        actor=_actor.get(),
        traceparent=_traceparent.get(),
    )


@contextlib.contextmanager
def bound_context(
    correlation_id: str | None,
    causation_id: str | None = None,
    actor: str | None = None,
    traceparent: str | None = None,
) -> Iterator[str]:
    correlation_id = correlation_id or str(uuid.uuid4())
    tokens = [
        (_correlation_id, _correlation_id.set(correlation_id)),
        (_causation_id, _causation_id.set(causation_id)),
        (_actor, _actor.set(actor)),
        (_traceparent, _traceparent.set(traceparent)),
    ]
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
        try:
            yield correlation_id
        finally:
            for var, token in reversed(tokens):
                var.reset(token)
