"""Operating a running suite: /metrics, /admin status, dead letters through the `rapport` CLI,
and a projection rebuilt on demand that equals the live one."""

import asyncio
import os
import subprocess
import sys

import httpx
import nats
from suite_env import AUTH_ENV

from rapport_devtools.testing import ClinicAdminAuth, bearer, eventually, mint_test_token


async def rapport(suite, *args: str, ok: bool = True) -> tuple[str, str]:
    # The CLI mints its own operator token from the suite's secret, as on the embedded default.
    env = {**os.environ, **AUTH_ENV}
    env.pop("RAPPORT_TOKEN", None)
    for name, process in suite.items():
        env[f"RAPPORT_{name.upper()}_URL"] = process.url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rapport_shared.runtime.cli",
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert (process.returncode == 0) is ok, err.decode()
    return out.decode(), err.decode()


async def test_status_metrics_and_dead_letters_through_the_cli(running_suite, nats_server):
    goals = running_suite["goals"]
    nc = await nats.connect(nats_server.url)
    try:
        # A message on a subject the goals service consumes, that is no Rapport event.
        await nc.jetstream().publish("rapport.northside.sessions.session-closed", b"{oops")
    finally:
        await nc.close()

    async with httpx.AsyncClient(auth=ClinicAdminAuth(), base_url=goals.url, timeout=10) as http:

        async def dead_letters():
            return (await http.get("/admin/dead-letters")).json()

        [letter] = await eventually(dead_letters, timeout=20)
        assert "not JSON" in letter["error"]

        async def drained_metrics() -> str | None:  # the relay's cursor: a moment after
            text = (await http.get("/metrics")).text
            return text if "rapport_outbox_backlog 0.0" in text else None

        metrics = await eventually(drained_metrics)
        assert 'rapport_dead_letters{consumer="goals-plans"} 1.0' in metrics
        assert "rapport_http_request_duration_seconds_bucket" in metrics
        # The service's own process froze what startup made (runtime.serve): a full collection
        # no longer walks its ~150,000 objects.
        [frozen] = [line for line in metrics.splitlines() if line.startswith("rapport_gc_frozen")]
        assert float(frozen.split()[1]) > 50_000
        assert 'python_gc_collections_total{generation="2"}' in metrics

        # Operations are for operators: a clinic admin's token does not reach them, nor none.
        admin = bearer(mint_test_token("clinic-admin", "northside"))
        assert (await http.get("/admin/status", headers=admin)).status_code == 403
        async with httpx.AsyncClient(base_url=goals.url) as plain:
            anonymous = await plain.get("/admin/status")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")

    counselor = mint_test_token("counselor", "northside", "kim")
    _, refused = await rapport(running_suite, "--token", counselor, "status", ok=False)
    assert "403" in refused
    status, _ = await rapport(running_suite, "status")
    assert "goals          ready" in status
    assert "dead_letters=1" in status
    listed, _ = await rapport(running_suite, "dlq", "list", "--service", "goals")
    assert f"goals:{letter['id']}" in listed
    shown, _ = await rapport(running_suite, "dlq", "show", str(letter["id"]), "--service", "goals")
    assert "{oops" in shown
    _, error = await rapport(
        running_suite, "dlq", "replay", str(letter["id"]), "--service", "goals", ok=False
    )
    assert "still not a valid event" in error
    await rapport(running_suite, "dlq", "discard", str(letter["id"]), "--service", "goals")
    assert await rapport(running_suite, "dlq", "list", "--service", "goals") == ("", "")
