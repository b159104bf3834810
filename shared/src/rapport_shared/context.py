"""Request- and event-scoped context: the correlation id, the causing event and the actor.

HTTP middleware and the consumer runner set these; the event store reads them when it appends,
and the logging configuration adds them to every line.
"""

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import structlog

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)
_actor: ContextVar[str | None] = ContextVar("actor", default=None)
_traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)


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
