"""Helpers for the goals tests: the service in-process on a real database and nats-server, and
this test playing the sessions service on RAPPORT_SESSIONS."""

import base64
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import Table, func, select

from rapport_devtools.testing import TEST_AUTH_SECRET, ClinicAdminAuth, eventually, serving
from rapport_goals.bootstrap import build_app
from rapport_goals.settings import GoalsSettings
from rapport_goals.tables import PROJECTION_TABLES
from rapport_shared.contracts import envelope, public_registry
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.envelope import IncomingEvent
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework
from rapport_shared.contracts.sessions import CareTeamChanged, ClientErased, SessionClosed
from rapport_shared.eventsourcing.crypto import closing_plan
from rapport_shared.messaging import connection
from rapport_shared.messaging.outbox import backlog
from rapport_shared.persistence.schema import care_team_table, events_table
from rapport_shared.runtime.service import ServiceRuntime

CLINIC = "northside"
OTHER_CLINIC = "riverside"
CLIENT = "client-ana"
COUNSELOR = "dr-okafor"
MAX_DELIVERIES = 2


# The suite key the sessions service would seal plan words with; these tests play sessions.
SEAL_KEY = secrets.token_bytes(32)


def goals_settings(database_url: str, nats_url: str, **overrides: Any) -> GoalsSettings:
    return GoalsSettings(
        database_url=database_url,
        nats_url=nats_url,
        plan_seal_key=base64.urlsafe_b64encode(SEAL_KEY).decode(),
        relay_poll_interval_seconds=0.1,
        consumer_max_deliveries=MAX_DELIVERIES,
        consumer_retry_base_seconds=0.01,
        auth_secret=TEST_AUTH_SECRET,
        **overrides,
    )


def agreed_goal(due_in_days: int = 30, description: str = "Walk three times a week") -> AgreedGoal:
    return AgreedGoal(
        description=description,
        measure="walks logged",
        target="3 per week",
        due_date=date.today() + timedelta(days=due_in_days),
    )


def agreed_homework(due_at: datetime, goal_index: int | None = None) -> AgreedHomework:
    return AgreedHomework(
        instructions=f"Log each walk (due {due_at:%d %b %H:%M})",
        due_at=due_at,
        goal_index=goal_index,
    )


def session_closed(
    goals: Sequence[AgreedGoal] = (),
    homework: Sequence[AgreedHomework] = (),
    *,
    closed_at: datetime | None = None,
    client_id: str = CLIENT,
    clinic_id: str = CLINIC,
) -> SessionClosed:
    return SessionClosed(
        clinic_id=clinic_id,
        session_id=uuid.uuid4(),
        client_id=client_id,
        counselor_id=COUNSELOR,
        closed_at=closed_at or datetime.now(UTC) - timedelta(minutes=5),
        **closing_plan(goals, homework, SEAL_KEY),
    )


@dataclass
class RunningGoals:
    app: FastAPI
    http: httpx.AsyncClient
    js: JetStreamContext
    settings: GoalsSettings

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    async def publish_session_closed(
        self, session: SessionClosed, event_id: str | None = None, msg_id: str | None = None
    ) -> str:
        """Publish as the sessions service would; returns the CloudEvent id."""
        return await self.publish_as_sessions(
            session, f"session-{session.session_id}", session.closed_at, event_id, msg_id
        )

    async def publish_as_sessions(
        self,
        event: EventContract,
        stream_id: str,
        occurred_at: datetime,
        event_id: str | None = None,
        msg_id: str | None = None,
    ) -> str:
        event_id = event_id or str(uuid.uuid4())
        message = envelope.encode(
            event,
            event_id=event_id,
            stream_id=stream_id,
            occurred_at=occurred_at,
            metadata={"correlation_id": str(uuid.uuid4())},
        )
        headers = {**message.headers, "Nats-Msg-Id": msg_id or event_id}
        ack = await self.js.publish(message.subject, message.payload, headers=headers)
        assert not ack.duplicate
        return event_id

    async def publish_client_erased(self, client_id: str = CLIENT) -> None:
        """As the sessions service does when a clinic admin erases a client."""
        erased = ClientErased(
            clinic_id=CLINIC, client_id=client_id, erased_by="admin-1", erased_at=datetime.now(UTC)
        )
        message = envelope.encode(
            erased,
            event_id=str(uuid.uuid4()),
            stream_id=f"client-{CLINIC}-{client_id}",
            occurred_at=erased.erased_at,
            metadata={"correlation_id": str(uuid.uuid4())},
        )
        await self.js.publish(message.subject, message.payload, headers=message.headers)

    async def publish_care_team(self, client_id: str, *counselors: str, wait: bool = True) -> None:
        """As the sessions service does when a clinic admin sets a client's care team; returns
        once this service's copy holds it (at once with wait=False)."""
        event = CareTeamChanged(
            clinic_id=CLINIC,
            client_id=client_id,
            counselor_ids=counselors,
            changed_by="admin",
            changed_at=datetime.now(UTC),
        )
        await self.publish_as_sessions(event, f"care-team-{CLINIC}-{client_id}", event.changed_at)
        if not wait:
            return

        async def copied() -> bool:
            rows = await self.rows(care_team_table)
            return {r["counselor_id"] for r in rows if r["client_id"] == client_id} == set(
                counselors
            )

        await eventually(copied)

    async def published_of(self, event_type: str, n: int) -> list[EventContract]:
        """Waits until at least n events of this type are on RAPPORT_GOALS; returns them all."""

        async def probe() -> list[EventContract] | None:
            found = [e.contract for _, e in await self.published() if e.event_type == event_type]
            return found if len(found) >= n else None

        return await eventually(probe, timeout=15)

    async def published(self) -> list[tuple[str, IncomingEvent]]:
        """Everything on RAPPORT_GOALS so far, as (subject, decoded event), in stream order."""
        try:
            state = (await self.js.stream_info("RAPPORT_GOALS")).state
        except NotFoundError:
            return []
        if state.messages == 0:
            return []
        registry = public_registry()
        found = []
        for sequence in range(state.first_seq, state.last_seq + 1):
            message = await self.js.get_msg("RAPPORT_GOALS", sequence)
            assert message.data is not None and message.subject is not None
            found.append((message.subject, envelope.decode(message.data, registry)))
        return found

    async def published_payloads(self) -> list[bytes]:
        """The raw bytes of everything on RAPPORT_GOALS, to check what never leaves."""
        state = (await self.js.stream_info("RAPPORT_GOALS")).state
        return [
            (await self.js.get_msg("RAPPORT_GOALS", seq)).data or b""
            for seq in range(state.first_seq, state.last_seq + 1)
        ]

    async def published_count(self, n: int) -> list[tuple[str, IncomingEvent]]:
        """Waits until exactly n events are on RAPPORT_GOALS and returns them."""

        async def probe() -> list[tuple[str, IncomingEvent]] | None:
            events = await self.published()
            assert len(events) <= n, f"more than {n} events published: {events}"
            return events if len(events) == n else None

        return await eventually(probe, timeout=15)

    async def rows(self, table: Table) -> list[dict[str, Any]]:
        async with self.runtime.engine.connect() as conn:
            result = await conn.execute(select(table).order_by(*table.primary_key.columns))
            return [dict(row._mapping) for row in result]

    async def projection_rows(self) -> dict[str, list[dict[str, Any]]]:
        return {table.name: await self.rows(table) for table in PROJECTION_TABLES}

    async def count(self, table: Table) -> int:
        async with self.runtime.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())

    async def waiting_to_publish(self) -> int:
        async with self.runtime.engine.connect() as conn:
            return (await backlog(conn))[0]

    async def stored_event_count(self) -> int:
        return await self.count(events_table)

    async def client_homework(
        self, n: int, client_id: str = CLIENT, clinic_id: str = CLINIC
    ) -> list[dict[str, Any]]:
        """Waits until the client's homework list holds n items and returns it."""

        async def probe() -> list[dict[str, Any]] | None:
            response = await self.http.get(f"/clinics/{clinic_id}/clients/{client_id}/homework")
            assert response.status_code == 200, response.text
            return response.json() if len(response.json()) == n else None

        return await eventually(probe, timeout=15)


@contextlib.asynccontextmanager
async def running_goals(
    database_url: str, nats_url: str, **overrides: Any
) -> AsyncIterator[RunningGoals]:
    nc = await connection.connect(nats_url, "test-as-sessions")
    js = nc.jetstream()
    # The sessions service owns RAPPORT_SESSIONS; here the test plays it.
    await connection.ensure_stream(js, "sessions")
    settings = goals_settings(database_url, nats_url, **overrides)
    app = build_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            # A clinic admin of the clinic each path names; pass headers=bearer(...) for another.
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", auth=ClinicAdminAuth()
            ) as http:
                await eventually(lambda: serving(http))
                yield RunningGoals(app, http, js, settings)
    finally:
        await nc.close()


def problem_fields(response: httpx.Response) -> list[str]:
    """The fields a problem+json response names."""
    assert response.headers["content-type"] == "application/problem+json", response.text
    return [error["field"] for error in response.json().get("errors", [])]


def goal_body(**changes: Any) -> dict[str, Any]:
    """A valid POST /goals body for CLIENT, due in 30 days, with changes applied."""
    return {
        "client_id": CLIENT,
        "counselor_id": COUNSELOR,
        "description": "Walk three times a week",
        "measure": "walks logged",
        "target": "3 per week",
        "due_date": (date.today() + timedelta(days=30)).isoformat(),
        **changes,
    }
