"""The composition root: settings in, a wired runtime (consumers, scheduler loop) and app out."""

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
from rapport_notifications.tables import PROJECTION_TABLES
from rapport_notifications.webhook_channel import WebhookChannel
from rapport_shared.contracts import EventRegistry, public_registry
from rapport_shared.contracts.sessions import CareTeamChanged
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.messaging.consumer import Subscription
from rapport_shared.runtime.service import ServiceRuntime
from rapport_shared.security import care_team

SERVICE = "notifications"
MIGRATIONS = Path(__file__).parent / "migrations"

GOALS_EVENTS = (
    "homework-assigned",
    "homework-completed",
    "homework-missed",
    "homework-cancelled",
    "goal-agreed",
    "goal-revised",
    "goal-status-changed",
    "alliance-alert-raised",
    "plan-item-refused",
    "risk-flag-raised",
    "measure-requested",
    "measure-ask-closed",
)
SESSIONS_EVENTS = (
    "session-scheduled",
    "session-closed",
    "session-cancelled",
    "note-signed",
    "client-erased",
)


def build_registry() -> EventRegistry:
    registry = public_registry()
    for contract in PRIVATE_EVENTS:
        registry.register(contract)
    return registry


def build_runtime(settings: NotificationsSettings) -> ServiceRuntime[EventStore]:
    store = EventStore(build_registry())
    runtime = ServiceRuntime(SERVICE, settings, store, MIGRATIONS)
    timing = handlers.Timing(
        homework_lead=timedelta(seconds=settings.reminder_lead_seconds),
        session_lead=timedelta(seconds=settings.session_lead_seconds),
        unsigned_note_after=timedelta(seconds=settings.unsigned_note_after_seconds),
    )
    # The service's key ring (client_keys): it seals the answers kept for Idempotency-Key
    # replays and keeps erased clients' tombstones (this service keeps no words under it).
    keys = runtime.idempotency.keys
    on_event = partial(handlers.on_event, store=store, keys=keys, timing=timing)
    # Its own copy of each client's care team, to authorize writes
    # (rapport_shared.security.care_team).
    runtime.subscribe(
        Subscription(
            durable=f"{SERVICE}-care-team",
            source_service="sessions",
            handlers={CareTeamChanged.event_type: care_team.on_care_team_changed},
        )
    )
    for durable, source, names in (
        ("notifications", "goals", GOALS_EVENTS),
        ("notifications-sessions", "sessions", SESSIONS_EVENTS),
    ):
        runtime.subscribe(
            Subscription(
                durable=durable,
                source_service=source,
                handlers=dict.fromkeys(names, on_event),
                # A batch's histories and erasures read at once (handlers.begin_batch).
                begin_batch=partial(handlers.begin_batch, store=store, keys=keys, timing=timing),
                # Events appended by the handlers go out at once, not at the relay's next poll.
                after_commit=(runtime.notify_relay,),
                linger_seconds=settings.consumer_linger_seconds,
            )
        )
    deliver = partial(
        scheduler.deliver_due_reminders,
        transaction=runtime.transaction,
        store=store,
        channels=scheduler.Channels(
            email=EmailChannel(settings), webhook=WebhookChannel(settings.webhook_egress)
        ),
        policy=RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            backoff=timedelta(seconds=settings.delivery_backoff_seconds),
            max_backoff=timedelta(seconds=settings.delivery_backoff_max_seconds),
        ),
        hold=timedelta(seconds=settings.delivery_claim_seconds),
        batch_size=settings.scheduler_batch_size,
    )
    runtime.add_periodic("delivery round", settings.scheduler_interval_seconds, deliver)
    # Operators: POST /admin/projections/reminders/rebuild, or `rapport rebuild
    # notifications.reminders`.
    runtime.add_projection("reminders", PROJECTION_TABLES, projections.replay)
    register_reminder_metrics(runtime.metrics)
    return runtime


def build_app(settings: NotificationsSettings) -> FastAPI:
    app = build_runtime(settings).create_app("Rapport notifications")
    app.include_router(api.router)
    # What a webhook URL is checked against when it is set (api.WebhookEgress).
    app.state.webhook_egress = settings.webhook_egress
    return app
