"""The demo that `make run` loads: every call it makes is accepted by the running suite (as the
role whose token it carries), and loading it again creates nothing twice."""

import asyncio
import importlib.util
from pathlib import Path

import httpx
import pytest

from rapport_devtools.testing import TEST_AUTH_SECRET, ClinicAdminAuth

pytestmark = pytest.mark.e2e
_spec = importlib.util.spec_from_file_location(
    "demo", Path(__file__).parents[1] / "scripts" / "demo.py"
)
assert _spec is not None and _spec.loader is not None
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)


async def test_the_demo_loads_with_its_tokens_and_a_second_load_creates_nothing_twice(
    running_suite,
) -> None:
    urls = {name: process.url for name, process in running_suite.items()}
    first = await asyncio.to_thread(demo.load_demo, urls, TEST_AUTH_SECRET)
    again = await asyncio.to_thread(demo.load_demo, urls, TEST_AUTH_SECRET)
    assert first and sorted(first) == sorted(again)
    async with httpx.AsyncClient(auth=ClinicAdminAuth(), timeout=10) as http:
        for clinic, client, _ in first:
            base = f"/clinics/{clinic}/clients/{client}"
            homework = (await http.get(f"{urls['goals']}{base}/homework")).json()
            assert len(homework) == 2  # one done, one pending: not four after the second load
            profile = (await http.get(f"{urls['sessions']}{base}/profile")).json()
            assert profile["display_name"]  # the name the demo gave, readable through the API
