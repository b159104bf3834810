"""schemathesis against each service's own OpenAPI: no 5xx, every response as documented, every
error problem+json. A small budget here; `make fuzz` runs the same with more examples."""

import pytest
from fuzz_support import build, fuzz


@pytest.mark.parametrize("service", ["sessions", "goals", "notifications"])
def test_fuzzed_requests_get_documented_answers(service, tmp_path, nats_server):
    failures = fuzz(service, build(service, tmp_path, nats_server.url))
    assert not failures, "\n\n".join(failures)
