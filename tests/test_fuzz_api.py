"""schemathesis against each service's own OpenAPI: no 5xx, every response as documented, every
error problem+json. A small budget here; `make fuzz` runs the same with more examples."""

import pytest
from fuzz_support import build, fuzz


@pytest.mark.parametrize("service", ["sessions", "goals", "notifications"])
def test_fuzzed_requests_get_documented_answers(service, tmp_path, nats_server):
    failures = fuzz(service, build(service, tmp_path, nats_server.url))
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("service", ["sessions", "goals", "notifications"])
def test_every_operation_documents_its_errors_and_commands_their_key(service, tmp_path):
    # The document only: nothing is started, so no broker is needed.
    schema = build(service, tmp_path, "nats://127.0.0.1:1").openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)  # FastAPI's own shape, never sent
            for status in ("4XX", "5XX"):
                content = responses[status]["content"]
                assert list(content) == ["application/problem+json"], (method, path)
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            assert ("Idempotency-Key" in headers) == (method in {"post", "patch"}), (method, path)
