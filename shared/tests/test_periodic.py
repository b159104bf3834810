"""ServiceRuntime.add_periodic: a background round that fails (the database away) is logged and
does not end the loop; the next round runs."""

import asyncio

from structlog.testing import capture_logs

from rapport_shared.contracts.base import EventRegistry
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.runtime.service import ServiceRuntime
from rapport_shared.runtime.settings import ServiceSettings


async def test_a_failed_round_is_logged_and_the_next_one_runs(tmp_path):
    settings = ServiceSettings(data_dir=str(tmp_path))
    runtime = ServiceRuntime("periodic", settings, EventStore(EventRegistry()), tmp_path)
    rounds: list[int] = []
    second_round = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds) + 1)
        if len(rounds) == 1:
            raise ConnectionError("database away")
        second_round.set()

    runtime.add_periodic("test round", 0.0, work)
    loop = runtime._loops[-1]  # the one just added (the first is the idempotency purge)
    with capture_logs() as logs:
        running = asyncio.create_task(loop())
        try:
            await asyncio.wait_for(second_round.wait(), timeout=10)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await runtime.engine.dispose()
    assert rounds[:2] == [1, 2]
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "test round failed"
    ]
