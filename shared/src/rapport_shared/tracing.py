"""OpenTelemetry tracing: off unless RAPPORT_OTLP_ENDPOINT is set.

Either way a W3C traceparent follows every request into the events it causes and every event
into the work it triggers downstream (it travels in the events' NATS headers). With an endpoint,
each HTTP request and each applied event is also a span, exported over OTLP/HTTP, so a trace
shows a command and all its consequences across the services.
"""

import contextlib
from collections.abc import Iterator

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from rapport_shared.context import continue_trace

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
def traced(name: str, traceparent: str | None, **attributes: str) -> Iterator[str]:
    """Run work as a child of traceparent; yields the traceparent to hand on to what it causes."""
    if _tracer is None:
        yield continue_trace(traceparent)
        return
    parent = _propagator.extract({"traceparent": traceparent} if traceparent else {})
    with _tracer.start_as_current_span(name, context=parent, attributes=attributes):
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        yield carrier.get("traceparent") or continue_trace(traceparent)
