"""The composition root: the one place that wires settings, store, consumers and HTTP."""

from datetime import timedelta
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from rapport_goals import api, projections
from rapport_goals.domain.events import goals_registry
from rapport_goals.domain.model import ExtraRule
from rapport_goals.service_layer import handlers, measure_asks
from rapport_goals.settings import GoalsSettings
from rapport_goals.tables import PROJECTION_TABLES
from rapport_shared.contracts.clock import utc_now
from rapport_shared.contracts.sessions import CareTeamChanged
from rapport_shared.eventsourcing.crypto import plan_seal_key
from rapport_shared.eventsourcing.privatestore import PrivateEventStore
from rapport_shared.messaging.consumer import Subscription
from rapport_shared.runtime.service import ServiceRuntime
from rapport_shared.security import care_team

SERVICE = "goals"
MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(
    settings: GoalsSettings, *, extra_plan_rule: ExtraRule | None = None
) -> ServiceRuntime[PrivateEventStore]:
    """extra_plan_rule: a rule on plan items on top of the shared ones, which the sessions
    service does not know; none in production (tests inject one: a drift must lose nothing)."""
    # Free text is kept encrypted per client; plan words arrive sealed under the suite key.
    store = PrivateEventStore(
        goals_registry(), plan_seal_key(settings.plan_seal_key, settings.data_dir)
    )
    runtime = ServiceRuntime(SERVICE, settings, store, MIGRATIONS)
    runtime.subscribe(
        Subscription(
            durable="goals-plans",
            source_service="sessions",
            handlers={
                "session-closed": partial(
                    handlers.plan_from_closed_session,
                    store=runtime.store,
                    extra_rule=extra_plan_rule,
                )
            },
            # A batch's erased clients read at once (handlers.begin_plans).
            begin_batch=partial(
                handlers.begin_plans, store=runtime.store, extra_rule=extra_plan_rule
            ),
            # The plan's events sit in the outbox once the batch commits: publish them now.
            after_commit=(runtime.notify_relay,),
            linger_seconds=settings.consumer_linger_seconds,
        )
    )

    # Its own copy of each client's care team, to authorize writes
    # (rapport_shared.security.care_team).
    runtime.subscribe(
        Subscription(
            durable=f"{SERVICE}-care-team",
            source_service="sessions",
            handlers={CareTeamChanged.event_type: care_team.on_care_team_changed},
        )
    )
    # Measures asked for before and at the start of sessions, and withdrawn with a cancelled one,
    # under each client's measurement plan (goals-plans asks for the session-end ones).
    on_session = partial(measure_asks.from_session, store=runtime.store)
    runtime.subscribe(
        Subscription(
            durable="goals-measure-asks",
            source_service="sessions",
            handlers=dict.fromkeys(measure_asks.SESSION_EVENTS, on_session),
            after_commit=(runtime.notify_relay,),
            linger_seconds=settings.consumer_linger_seconds,
        )
    )
    runtime.subscribe(
        Subscription(
            durable="goals-erasure",
            source_service="sessions",
            # The handler's transaction clears the SQLite WAL once it commits (erase_on_commit).
            handlers={"client-erased": partial(handlers.erase_client, store=runtime.store)},
        )
    )

    # Operators: POST /admin/projections/progress/rebuild, or `rapport rebuild goals.progress`.
    runtime.add_projection("progress", PROJECTION_TABLES, projections.replay)

    grace = timedelta(hours=settings.missed_grace_hours)

    async def check_missed_homework() -> None:
        """Record the occurrences that passed unfulfilled (and their grace)."""
        async with runtime.transaction() as conn:
            await handlers.record_missed_homework(conn, runtime.store, utc_now(), grace)

    runtime.add_periodic(
        "missed-homework check",
        settings.missed_check_interval_seconds,
        check_missed_homework,
        at_start=False,
    )

    async def measure_ask_round() -> None:
        """Ask for the every-n-days measures that fell due; record the asks past their deadline
        as missed."""
        async with runtime.transaction() as conn:
            await measure_asks.round_at(conn, runtime.store, utc_now())

    runtime.add_periodic(
        "measure-ask round",
        settings.measure_round_interval_seconds,
        measure_ask_round,
        at_start=False,
    )
    return runtime


def build_app(settings: GoalsSettings, *, extra_plan_rule: ExtraRule | None = None) -> FastAPI:
    runtime = build_runtime(settings, extra_plan_rule=extra_plan_rule)
    app = runtime.create_app("Rapport goals")
    app.include_router(api.router)
    return app
