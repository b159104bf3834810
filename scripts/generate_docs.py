"""Regenerates the published contract under docs/: a JSON Schema per event (docs/events/) and
each service's AsyncAPI document (docs/asyncapi/). tests/test_published_contract.py fails when
the checked-in copies drift from the code.

    uv run python scripts/generate_docs.py
"""

import json
from pathlib import Path
from typing import Any

from rapport_goals.bootstrap import build_runtime as goals_runtime
from rapport_goals.settings import GoalsSettings
from rapport_notifications.bootstrap import build_runtime as notifications_runtime
from rapport_notifications.settings import NotificationsSettings
from rapport_sessions.bootstrap import build_runtime as sessions_runtime
from rapport_sessions.settings import SessionsSettings
from rapport_shared.contracts.catalog import write_catalog

DOCS = Path(__file__).parents[1] / "docs"
IN_MEMORY = "sqlite+aiosqlite:///:memory:"  # never connected: the documents need no database


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    runtimes = [
        sessions_runtime(SessionsSettings(database_url=IN_MEMORY)),
        goals_runtime(GoalsSettings(database_url=IN_MEMORY)),
        notifications_runtime(NotificationsSettings(database_url=IN_MEMORY)),
    ]
    return {runtime.name: runtime.asyncapi() for runtime in runtimes}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    write_catalog(DOCS / "events")
    (DOCS / "asyncapi").mkdir(exist_ok=True)
    for service, document in asyncapi_documents().items():
        (DOCS / "asyncapi" / f"{service}.json").write_text(render(document))


if __name__ == "__main__":
    main()
