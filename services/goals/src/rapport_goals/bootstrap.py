"""The composition root: the one place that wires settings, store, consumers and HTTP."""

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from rapport_goals import api, projections
from rapport_goals.service_layer import handlers
from rapport_goals.settings import GoalsSettings
from rapport_shared.consumer import Subscription
from rapport_shared.contracts import public_registry
from rapport_shared.runtime import ServiceRuntime

SERVICE = "goals"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: GoalsSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(SERVICE, settings, public_registry(), MIGRATIONS)
    runtime.subscribe(
        Subscription(
            durable="goals-plans",
            source_service="sessions",
            handlers={
                "session-closed": partial(handlers.plan_from_closed_session, store=runtime.store)
            },
            # The plan's events sit in the outbox once the batch commits: publish them now.
            after_commit=(runtime.notify_relay,),
        )
    )

    async def rebuild_progress() -> None:
        await projections.rebuild(runtime.engine, runtime.store)

    # Operators: POST /admin/projections/progress/rebuild, or `rapport rebuild goals.progress`.
    runtime.add_projection("progress", rebuild_progress)
    return runtime


def build_app(settings: GoalsSettings) -> FastAPI:
    runtime = build_runtime(settings)
    app = runtime.create_app("Rapport goals")
    app.include_router(api.router)
    return app
