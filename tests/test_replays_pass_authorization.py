"""An Idempotency-Key replay on a clinic's path leaves the application at the end of the
route's authorization (rapport_shared.security.access.authorize calls
idempotency.authorization.authorized): a command route without it would run its command again
on every replay. So every command route of every service under /clinics/ must declare
authorize()."""

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from rapport_goals.bootstrap import build_app as goals_app
from rapport_goals.settings import GoalsSettings
from rapport_notifications.bootstrap import build_app as notifications_app
from rapport_notifications.settings import NotificationsSettings
from rapport_sessions.bootstrap import build_app as sessions_app
from rapport_sessions.settings import SessionsSettings
from rapport_shared.web.idempotency.keys import COMMAND_METHODS


def _apps(data_dir: Path) -> dict[str, FastAPI]:
    common = {"data_dir": str(data_dir), "auth_secret": "x" * 32}
    return {
        "sessions": sessions_app(SessionsSettings(**common)),
        "goals": goals_app(GoalsSettings(**common)),
        "notifications": notifications_app(NotificationsSettings(**common)),
    }


def _routes(routes: list[Any]) -> list[APIRoute]:
    """The app's routes, through the routers it includes (FastAPI keeps an included router
    whole, as its original_router)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += _routes(route.original_router.routes)
    return found


def _authorizes(route: APIRoute) -> bool:
    return any(
        getattr(dependency.call, "__qualname__", "").startswith("authorize.")
        for dependency in route.dependant.dependencies
    )


@pytest.mark.parametrize("service", ["sessions", "goals", "notifications"])
def test_every_command_route_of_a_clinic_is_authorized(service: str, tmp_path: Path) -> None:
    app = _apps(tmp_path)[service]
    commands = [
        route
        for route in _routes(app.routes)
        if route.path.startswith("/clinics/") and route.methods & COMMAND_METHODS
    ]
    assert commands  # the walk sees the routes
    assert [f"{r.methods} {r.path}" for r in commands if not _authorizes(r)] == []
