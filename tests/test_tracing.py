"""With an OTLP endpoint set, a command and its consequences in another service form one trace,
exported to a real OTLP/HTTP receiver and decoded from its protobuf."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from suite_env import suite_env

from rapport_devtools.localsuite import service_processes
from rapport_devtools.natsserver import free_port
from rapport_devtools.testing import ClinicAdminAuth, eventually

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class OtlpReceiver(BaseHTTPRequestHandler):
    spans: list[tuple[str, str, str]] = []  # (service, span name, trace id)

    def do_POST(self) -> None:  # noqa: N802
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append((service, span.name, span.trace_id.hex()))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def otlp_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), OtlpReceiver)
    OtlpReceiver.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_a_close_and_its_consequences_form_one_trace(
    tmp_path, nats_server, smtp, otlp_receiver
):
    env = {
        **suite_env(tmp_path, nats_server.url, smtp),
        "RAPPORT_OTLP_ENDPOINT": otlp_receiver,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    ports = {name: free_port() for name in ("sessions", "goals", "notifications")}
    processes = service_processes(env, tmp_path / "logs", ports=ports)
    sessions, goals = processes["sessions"], processes["goals"]
    try:
        for process in (sessions, goals):
            process.start()
        for process in (sessions, goals):
            process.wait_ready()
        traceparent = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        async with httpx.AsyncClient(
            auth=ClinicAdminAuth(), base_url=sessions.url, timeout=10
        ) as http:
            created = await http.post(
                "/clinics/northside/sessions",
                json={"client_id": "c1", "counselor_id": "k1", "starts_at": "2026-01-01T09:00Z"},
            )
            session_id = created.json()["session_id"]
            closed = await http.post(
                f"/clinics/northside/sessions/{session_id}/close", headers=traceparent, json={}
            )
            assert closed.status_code == 200, closed.text

        async def traced_in_both() -> set[tuple[str, str]]:
            found = {(s, n) for s, n, t in OtlpReceiver.spans if t == TRACE_ID}
            services = {s for s, _ in found}
            return found if {"rapport-sessions", "rapport-goals"} <= services else set()

        found = await eventually(traced_in_both, timeout=20)
        assert ("rapport-goals", "apply session-closed") in found
        assert any(s == "rapport-sessions" and n.startswith("POST ") for s, n in found)
    finally:
        for process in processes.values():
            process.stop()
