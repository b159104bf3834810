"""The composition root: settings in, a wired runtime (consumer, scheduler loop) and app out."""

from datetime import timedelta
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from rapport_notifications import api, projections
from rapport_notifications.domain.events import PRIVATE_EVENTS
from rapport_notifications.domain.model import RetryPolicy
from rapport_notifications.email_channel import EmailChannel
from rapport_notifications.metrics import register_reminder_metrics
from rapport_notifications.service_layer import handlers, scheduler
from rapport_notifications.settings import NotificationsSettings
from rapport_shared.care_team import care_team_subscription
from rapport_shared.consumer import Subscription
from rapport_shared.contracts import EventRegistry, public_registry
from rapport_shared.runtime import ServiceRuntime

SERVICE = "notifications"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_registry() -> EventRegistry:
    registry = public_registry()
    for contract in PRIVATE_EVENTS:
        registry.register(contract)
    return registry


def build_runtime(settings: NotificationsSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(SERVICE, settings, build_registry(), MIGRATIONS)
    store = runtime.store
    lead = timedelta(seconds=settings.reminder_lead_seconds)
    runtime.subscribe(
        Subscription(
            durable="notifications",
            source_service="goals",
            handlers={
                "homework-assigned": partial(handlers.on_homework_assigned, store=store, lead=lead),
                "homework-completed": partial(handlers.on_homework_completed, store=store),
            },
            # Events appended by the handlers go out at once, not at the relay's next poll.
            after_commit=(runtime.notify_relay,),
        )
    )
    # Its own copy of each client's care team, to authorize writes (rapport_shared.care_team).
    runtime.subscribe(care_team_subscription(SERVICE))
    deliver = partial(
        scheduler.deliver_due_reminders,
        transaction=runtime.transaction,
        store=store,
        channel=EmailChannel(settings),
        policy=RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            backoff=timedelta(seconds=settings.delivery_backoff_seconds),
            max_backoff=timedelta(seconds=settings.delivery_backoff_max_seconds),
        ),
        hold=timedelta(seconds=settings.delivery_claim_seconds),
        batch_size=settings.scheduler_batch_size,
    )
    runtime.add_loop(partial(scheduler.run_every, settings.scheduler_interval_seconds, deliver))
    runtime.add_projection("reminders", partial(projections.rebuild, runtime.engine, store))
    register_reminder_metrics(runtime.metrics)
    return runtime


def build_app(settings: NotificationsSettings) -> FastAPI:
    app = build_runtime(settings).create_app("Rapport notifications")
    app.include_router(api.router)
    return app
