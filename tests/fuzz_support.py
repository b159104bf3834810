"""Property-based fuzzing of each service's OpenAPI with schemathesis, in-process (ASGI) against
a real SQLite database and a real nats-server. The suite runs it at a small budget; `make fuzz`
at a larger one (RAPPORT_FUZZ_EXAMPLES)."""

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from rapport_devtools.natsserver import free_port
from rapport_devtools.testing import TEST_AUTH_SECRET, bearer, mint_test_token
from rapport_goals.bootstrap import build_app as goals_app
from rapport_goals.settings import GoalsSettings
from rapport_notifications.bootstrap import build_app as notifications_app
from rapport_notifications.settings import NotificationsSettings
from rapport_sessions.bootstrap import build_app as sessions_app
from rapport_sessions.settings import SessionsSettings
from rapport_shared.web.problems import PROBLEM

# Per operation and generation mode (valid data, then invalid data).
EXAMPLES = int(os.environ.get("RAPPORT_FUZZ_EXAMPLES", "5"))


STATS: dict[str, Counter[int]] = {}


def fuzz_headers() -> dict[str, str]:
    """Headers every fuzzed request carries: a clinic admin's token for the clinic the fixtures
    live in, so requests get past authentication to the routes' own validation (another
    clinic's paths answer 404, which the checks accept like any problem+json)."""
    return bearer(mint_test_token("clinic-admin", CLINIC))


def problem_json_on_errors(_ctx: Any, response: Any, _case: Any) -> bool | None:
    """Every 4xx and 5xx is RFC 9457 problem+json whose status matches the response's."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.split(";")[0] == PROBLEM, f"{response.status_code} as {content_type}"
    body = response.json()
    assert body["status"] == response.status_code, body
    assert body["title"] and isinstance(body["detail"], str), body
    return True


def invalid_data_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's negative_data_rejection, also taking 413 as a refusal (its default list
    leaves it out): an oversized invalid body is refused before it is even parsed."""
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json_on_errors,
]


def _settings(kind: type[Any], database: Path, nats_url: str, **extra: Any) -> Any:
    return kind(
        nats_url=nats_url,
        database_url=f"sqlite+aiosqlite:///{database}",
        data_dir=str(database.parent),
        log_format="console",
        log_level="error",
        relay_poll_interval_seconds=0.2,
        auth_secret=TEST_AUTH_SECRET,
        **extra,
    )


def build(service: str, tmp_path: Path, nats_url: str) -> FastAPI:
    database = tmp_path / f"{service}.db"
    builders: dict[str, Callable[[], FastAPI]] = {
        "sessions": lambda: sessions_app(_settings(SessionsSettings, database, nats_url)),
        "goals": lambda: goals_app(_settings(GoalsSettings, database, nats_url)),
        # Nothing listens on the SMTP port: reminders are not what is being fuzzed.
        "notifications": lambda: notifications_app(
            _settings(NotificationsSettings, database, nats_url, smtp_port=free_port())
        ),
    }
    return builders[service]()


CLINIC = "northside"
S1, S2 = "5e55e55e-0000-4000-8000-000000000001", "5e55e55e-0000-4000-8000-000000000002"
G1, H1 = "60a160a1-0000-4000-8000-000000000001", "40e40e40-0000-4000-8000-000000000001"


@dataclass
class Seed:
    """Things created before fuzzing (method, path, body), and path parameters naming them: a
    random id only ever reaches the 404, these reach the code behind it."""

    requests: list[tuple[str, str, dict[str, Any]]]
    path_parameters: list[dict[str, str]]


def _seed(service: str) -> Seed:
    now, today = datetime.now(UTC), date.today()
    at = f"/clinics/{CLINIC}"
    if service == "sessions":
        session = {"client_id": "alice", "counselor_id": "kim", "starts_at": now.isoformat()}
        return Seed(
            [
                ("POST", f"{at}/sessions", {"session_id": S1, **session}),
                ("POST", f"{at}/sessions", {"session_id": S2, **session}),
                ("POST", f"{at}/sessions/{S2}/start", {}),
                ("POST", f"{at}/sessions/{S2}/notes", {"body": "We talked about sleep."}),
            ],
            [
                {"clinic_id": CLINIC, "session_id": S1, "client_id": "alice"},
                {"clinic_id": CLINIC, "session_id": S2, "client_id": "alice"},
            ],
        )
    if service == "goals":
        people = {"client_id": "client-ana", "counselor_id": "dr-okafor"}
        goal = {"description": "walk", "measure": "walks", "target": "3 a week"}
        until = (today + timedelta(days=10)).isoformat()
        return Seed(
            [
                (
                    "POST",
                    f"{at}/goals",
                    {
                        "goal_id": G1,
                        **people,
                        **goal,
                        "due_date": (today + timedelta(days=30)).isoformat(),
                    },
                ),
                (
                    "POST",
                    f"{at}/homework",
                    {
                        "homework_id": H1,
                        **people,
                        "goal_id": G1,
                        "instructions": "log each walk",
                        "due_at": (now + timedelta(hours=2)).isoformat(),
                        "recurrence": {"frequency": "daily", "until": until},
                    },
                ),
            ],
            [{"clinic_id": CLINIC, "goal_id": G1, "homework_id": H1, "client_id": "client-ana"}],
        )
    return Seed(
        [("PUT", f"{at}/recipients/alice", {"email": "alice@example.org"})],
        [{"clinic_id": CLINIC, "recipient_id": "alice"}],
    )


def _plant(app: FastAPI, seed: Seed) -> None:
    with asgi.get_client(app) as client:
        for method, path, body in seed.requests:
            response = client.request(method, path, json=body, headers=fuzz_headers())
            assert response.status_code < 300, (method, path, response.text)


def fuzz(service: str, app: FastAPI, examples: int = EXAMPLES) -> list[str]:
    """Fuzz every operation of app; returns the failures, one line each (empty: all passed)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    try:
        seed = _seed(service)
        _plant(app, seed)
        for result in schema.get_all_operations():
            operation = result.ok()
            names = set(re.findall(r"{(\w+)}", operation.path))
            known = [
                {name: parameters[name] for name in names}
                for parameters in seed.path_parameters
                if names and names <= parameters.keys()
            ]
            runs = [(mode, None) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
            runs += [(GenerationMode.POSITIVE, parameters) for parameters in known]
            for mode, parameters in runs:
                try:
                    _fuzz_operation(operation, mode, examples, parameters)
                except Unsatisfiable:
                    continue  # no parameters or body to make invalid (GET /healthz)
                except Exception as error:  # noqa: BLE001 - collected, reported together
                    where = f" at {parameters}" if parameters else ""
                    failures.append(f"{operation.label} [{mode.value}{where}]: {error}")
    finally:
        asgi.shutdown_lifespans()
    return failures


def _budget(examples: int, **extra: Any) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        **extra,
    )


def _fuzz_operation(
    operation: Any, mode: GenerationMode, examples: int, path_parameters: dict[str, str] | None
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @_budget(examples)
    def run(case: Any) -> None:
        response = case.call(headers=fuzz_headers())
        label = f"{operation.label}{' (seeded)' if path_parameters else ''}"
        STATS.setdefault(label, Counter())[response.status_code] += 1
        checks = CHECKS if mode is GenerationMode.POSITIVE else [*CHECKS, invalid_data_refused]
        case.validate_response(response, checks=checks)

    run()
