"""The composition root: the one place that wires settings, runtime, consumers and API."""

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from rapport_sessions import api, projections
from rapport_sessions.domain.events import sessions_registry
from rapport_sessions.service_layer import handlers
from rapport_sessions.settings import SessionsSettings
from rapport_sessions.tables import PROJECTION_TABLES
from rapport_shared.eventsourcing.crypto import plan_seal_key
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.messaging.consumer import Subscription
from rapport_shared.runtime.service import ServiceRuntime

SERVICE = "sessions"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: SessionsSettings) -> ServiceRuntime[PrivateEventStore]:
    # Free text and names are kept encrypted per client; the plan's words go out sealed.
    seal_key = plan_seal_key(settings.plan_seal_key, settings.data_dir)
    store = PrivateEventStore(sessions_registry(), seal_key)
    runtime = ServiceRuntime(SERVICE, settings, store, MIGRATIONS)
    # The goals events the notes and prep-brief projections show; the key ring says which of
    # their clients are erased (their rows stay purged).
    runtime.subscribe(
        Subscription(
            durable=projections.NOTES_CONSUMER,
            source_service="goals",
            handlers=dict.fromkeys(
                (contract.event_type for contract in projections.GOALS_SHOWN),
                partial(handlers.update_notes_projection, keys=store.keys),
            ),
            # The upserts of a batch written a table at a time (projections.project_all).
            apply_batch=partial(handlers.update_notes_projection_batch, keys=store.keys),
            linger_seconds=settings.consumer_linger_seconds,
        )
    )
    # Operators: POST /admin/projections/notes/rebuild, or `rapport rebuild sessions.notes`.
    runtime.add_projection("notes", PROJECTION_TABLES, projections.replay)
    return runtime


def build_app(settings: SessionsSettings) -> FastAPI:
    app = build_runtime(settings).create_app("Rapport sessions")
    app.include_router(api.router)
    return app
