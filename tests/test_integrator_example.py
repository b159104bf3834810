"""The integrator example (plain nats-py, no Rapport code) prints one clinic's events only."""

import asyncio
import subprocess
import sys
from pathlib import Path

from shared_tests_support import goal, running_pipeline

from rapport_devtools.testing import eventually

EXAMPLE = Path(__file__).parents[1] / "examples" / "integrator.py"


async def test_example_prints_one_clinics_events_and_resumes_where_it_stopped(
    tmp_path, nats_server
):
    async with running_pipeline(f"sqlite+aiosqlite:///{tmp_path}/p.db", nats_server.url) as p:
        await p.append_goal(goal("ana", clinic="northside"))
        await p.append_goal(goal("cara", clinic="riverside"))
        await p.append_goal(goal("ben", clinic="northside"))
        await _published(p, 3)
        first = await _run_example(nats_server.url)
        await p.append_goal(goal("dev", clinic="northside"))
        await _published(p, 4)
        second = await _run_example(nats_server.url)

    assert [line.split()[1] for line in first] == ["rapport.goals.goal-agreed.v2"] * 2
    assert all("rapport.northside.goals.goal-agreed" in line for line in first + second)
    assert ['"client_id": "ana"' in first[0], '"client_id": "ben"' in first[1]] == [True, True]
    assert len(second) == 1 and '"client_id": "dev"' in second[0]  # durable: resumed, no repeats


async def _run_example(url: str, *auth: str) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--server",
        url,
        "--clinic",
        "northside",
        *auth,
        "--max-idle",
        "1.5",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode().splitlines()


async def _published(pipeline, count: int) -> None:
    async def stream_holds() -> bool:
        info = await pipeline.nc.jetstream().stream_info("RAPPORT_GOALS")
        return info.state.messages >= count

    await eventually(stream_holds)
