"""The checked-in integrator contract (docs/events, docs/asyncapi) matches the code, and each
service serves its AsyncAPI document."""

import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))

from generate_docs import DOCS, asyncapi_documents, render  # noqa: E402


def test_checked_in_asyncapi_documents_match_the_services():
    for service, document in asyncapi_documents().items():
        checked_in = (DOCS / "asyncapi" / f"{service}.json").read_text()
        assert checked_in == render(document), "run: uv run python scripts/generate_docs.py"


def test_asyncapi_lists_what_each_service_publishes_and_consumes():
    documents = asyncapi_documents()
    goals = documents["goals"]
    addresses = {c["address"] for c in goals["channels"].values()}
    assert "rapport.{clinic_id}.goals.homework-completed" in addresses
    assert "rapport.*.sessions.session-closed" in addresses
    assert "CloudEvent[HomeworkCompleted]" in goals["components"]["schemas"]
    notes = documents["sessions"]["components"]["schemas"]
    assert "NoteRecorded" not in str(notes)  # private events are not part of the contract


async def test_each_service_serves_its_asyncapi_document(shared_suite):
    async with httpx.AsyncClient(timeout=10) as http:
        for service, process in shared_suite.items():
            served = (await http.get(f"{process.url}/asyncapi.json")).json()
            assert served["info"]["title"] == f"Rapport {service}"
