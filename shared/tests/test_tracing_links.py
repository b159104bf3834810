"""A batch applied at once is one span, linked to the trace of every event in it."""

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from shared_tests_support import goal

from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.messaging.consumer import ConsumerRunner, Subscription
from rapport_shared.telemetry import tracing

FIRST = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SECOND = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def test_a_batch_span_links_every_event_trace_it_applied(exported: InMemorySpanExporter) -> None:
    with tracing.traced("apply batch", None, links=[FIRST, None, "garbage", SECOND]):
        pass
    [span] = exported.get_finished_spans()
    linked = [
        (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in span.links
    ]
    assert linked == [
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
    ]
    # Its own trace is a new one, not any event's.
    assert span.context.trace_id not in {link.context.trace_id for link in span.links}


async def test_the_consumer_traces_a_batch_as_one_span_linked_to_its_events(
    exported: InMemorySpanExporter,
) -> None:
    seen: list[int] = []

    async def apply_batch(_conn: Any, batch: Sequence[IncomingEvent]) -> None:
        seen.append(len(batch))

    subscription = Subscription("test", "goals", {"goal-agreed": _never}, apply_batch=apply_batch)
    runner = ConsumerRunner(None, None, None, subscription)  # type: ignore[arg-type]
    events = [_incoming(FIRST), _incoming(SECOND)]
    await runner._run_batch(None, apply_batch, events)  # type: ignore[arg-type]
    assert seen == [2]
    [span] = exported.get_finished_spans()
    assert (span.name, dict(span.attributes or {})) == (
        "apply batch",
        {"consumer": "test", "events": "2"},
    )
    assert [trace for trace, _ in _links(span)] == [FIRST[3:35], SECOND[3:35]]


async def _never(_conn: Any, _incoming: IncomingEvent) -> None:
    raise AssertionError("the batch handler applies batches")


def _incoming(traceparent: str) -> IncomingEvent:
    event = goal()
    return IncomingEvent(
        event_id="e",
        event_type=event.event_type,
        schema_version=1,
        source="/rapport/goals/northside",
        subject="s",
        time="",
        correlation_id="c",
        causation_id=None,
        traceparent=traceparent,
        contract=event,
    )


def _links(span: Any) -> list[tuple[str, str]]:
    return [
        (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in span.links
    ]
