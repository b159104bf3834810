"""OpenTelemetry tracing: off unless RAPPORT_OTLP_ENDPOINT is set.

Either way a W3C traceparent follows every request into the events it causes and every event
into the work it triggers downstream (it travels in the events' NATS headers). With an endpoint,
each HTTP request and each applied event is also a span, exported over OTLP/HTTP, so a trace
shows a command and all its consequences across the services. A consumer that applies a batch
at once (a projection) makes one span for the batch, linked to each event's trace.
"""

import contextlib
from collections.abc import Iterable, Iterator

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanContext, Tracer, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from rapport_shared.telemetry.context import continue_trace, valid_traceparent

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    global _provider, _tracer
    if not otlp_endpoint:
        _provider, _tracer = None, None
        return
    _provider = TracerProvider(resource=Resource.create({"service.name": f"rapport-{service}"}))
    exporter = OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces")
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    _tracer = _provider.get_tracer("rapport")


def shutdown_tracing() -> None:
    """Export what is still buffered."""
    if _provider is not None:
        _provider.shutdown()


@contextlib.contextmanager
def traced(
    name: str, traceparent: str | None, links: Iterable[str | None] = (), **attributes: str
) -> Iterator[str]:
    """Run work as a child of traceparent; yields the traceparent to hand on to what it causes.
    links: the traceparents of other work this span does on behalf of (a batch's events)."""
    if _tracer is None:
        yield continue_trace(traceparent)
        return
    # The same check as without an exporter: OpenTelemetry's own parser takes more (a longer
    # value of a later version), and what it takes is carried on into events.
    parent = _propagator.extract(
        {"traceparent": traceparent} if valid_traceparent(traceparent) else {}
    )
    linked = [Link(context) for context in map(_span_context, links) if context.is_valid]
    with _tracer.start_as_current_span(name, context=parent, links=linked, attributes=attributes):
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        yield carrier.get("traceparent") or continue_trace(traceparent)


def _span_context(traceparent: str | None) -> SpanContext:
    carrier = {"traceparent": traceparent} if traceparent else {}
    return get_current_span(_propagator.extract(carrier)).get_span_context()
