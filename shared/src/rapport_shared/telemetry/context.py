"""Request- and event-scoped context: the correlation id, the causing event and the actor.

HTTP middleware and the consumer runner set these; the event store reads them when it appends,
and the logging configuration adds them to every line.

What a caller sends in X-Correlation-Id or traceparent ends up in the metadata of every event the
request causes, so in the broker's message and in logs: a value is kept only when it is short and
of a safe shape, and replaced by a fresh one otherwise (a megabyte of correlation id made an
event the broker refused).
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


# A correlation id is kept as given when it is made of these and at most 128 characters long.
MAX_CORRELATION_ID_CHARS = 128
_CORRELATION_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_CORRELATION_ID_CHARS}}}")
# W3C Trace Context, version 00: trace id, parent id, flags, in lower-case hex.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_NO_TRACE, _NO_PARENT = "0" * 32, "0" * 16


def checked_correlation_id(correlation_id: str | None) -> str:
    """The caller's correlation id when it is of the safe shape, else a new one (a UUID)."""
    if correlation_id and _CORRELATION_ID.fullmatch(correlation_id):
        return correlation_id
    return str(uuid.uuid4())


def valid_traceparent(traceparent: str | None) -> bool:
    """A W3C traceparent of version 00 whose trace and parent ids are not all zeros (those mean
    invalid in the standard)."""
    match = _TRACEPARENT.fullmatch(traceparent or "")
    return match is not None and match.group(1) != _NO_TRACE and match.group(2) != _NO_PARENT


def continue_trace(traceparent: str | None) -> str:
    """A W3C traceparent for the next hop: the same trace id with a new span id, or a new trace
    when there is none (or it is malformed), so every request and event can be followed."""
    if traceparent is not None and valid_traceparent(traceparent):
        trace_id, flags = traceparent[3:35], traceparent[53:55]
    else:
        trace_id, flags = secrets.token_hex(16), "01"
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
    correlation_id = checked_correlation_id(correlation_id)
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
