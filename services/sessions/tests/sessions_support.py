"""Test helpers for the sessions service: the service running in-process against a real
nats-server and database, and a stand-in for the goals service that publishes its events."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from sqlalchemy import delete, func, insert, select, update

from rapport_devtools.testing import TEST_AUTH_SECRET, ClinicAdminAuth, eventually, serving
from rapport_sessions.bootstrap import build_app
from rapport_sessions.settings import SessionsSettings
from rapport_sessions.tables import (
    PREP_TABLES,
    PROJECTION_TABLES,
    notes_homework,
    notes_sessions,
)
from rapport_shared.contracts import envelope
from rapport_shared.contracts.base import EventContract
from rapport_shared.messaging import connection
from rapport_shared.persistence.schema import events_table
from rapport_shared.runtime.service import ServiceRuntime

CLINIC = "northside"
OTHER_CLINIC = "southside"


def later(days: float = 0, hours: float = 0) -> str:
    """An ISO-8601 time from now, as a client would send it."""
    return (datetime.now(UTC) + timedelta(days=days, hours=hours)).isoformat()


def due_in(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def plan(goals: int = 1, homework_goal_index: int | None = 0) -> dict[str, Any]:
    """A closing-step body with `goals` goals and one homework serving the given goal."""
    return {
        "next_session_at": later(days=7),
        "goals": [
            {
                "description": f"walk every morning ({n})",
                "measure": "days walked",
                "target": "5 per week",
                "due_date": due_in(30),
            }
            for n in range(goals)
        ],
        "homework": [
            {
                "instructions": "log each walk",
                "due_at": later(days=3),
                "goal_index": homework_goal_index,
            }
        ],
    }


@dataclass
class RunningService:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    async def schedule(
        self, client_id: str = "alice", clinic: str = CLINIC, **body: Any
    ) -> dict[str, Any]:
        body = {"client_id": client_id, "counselor_id": "kim", "starts_at": later(1), **body}
        response = await self.http.post(f"/clinics/{clinic}/sessions", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def count_events(self, event_type: str | None = None) -> int:
        query = select(func.count()).select_from(events_table)
        if event_type is not None:
            query = query.where(events_table.c.event_type == event_type)
        async with self.runtime.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def projection_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        async with self.runtime.engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in await conn.execute(
                        select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in PROJECTION_TABLES
            }


@contextlib.asynccontextmanager
async def running_service(
    database_url: str, nats_url: str, data_dir: Path
) -> AsyncIterator[RunningService]:
    settings = SessionsSettings(
        nats_url=nats_url,
        database_url=database_url,
        data_dir=str(data_dir),
        log_format="console",
        log_level="warning",
        consumer_retry_base_seconds=0.01,
        auth_secret=TEST_AUTH_SECRET,
    )
    app = build_app(settings)
    async with (
        app.router.lifespan_context(app),
        # A clinic admin of the clinic each path names; pass headers=bearer(...) for another.
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", auth=ClinicAdminAuth()
        ) as http,
    ):
        await eventually(lambda: _ready(http))
        yield RunningService(app, http)


async def _ready(http: httpx.AsyncClient) -> bool:
    return await serving(http)


class GoalsProducer:
    """Plays the goals service: owns RAPPORT_GOALS and publishes CloudEvents onto it."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.js = nc.jetstream()

    async def publish(self, event: EventContract, event_id: str | None = None) -> str:
        """Publish event (a fresh copy when event_id is given again: same id, new message id,
        as after the duplicate window) and return its event id."""
        event_id = event_id or str(uuid.uuid4())
        message = envelope.encode(
            event,
            event_id=event_id,
            stream_id=f"goals-test-{event_id}",
            occurred_at=datetime.now(UTC),
            metadata={"correlation_id": str(uuid.uuid4())},
        )
        headers = {**message.headers, "Nats-Msg-Id": str(uuid.uuid4())}
        await self.js.publish(message.subject, message.payload, headers=headers)
        return event_id


@contextlib.asynccontextmanager
async def goals_producer(nats_url: str) -> AsyncIterator[GoalsProducer]:
    nc = await connection.connect(nats_url, "test-goals")
    try:
        await connection.ensure_stream(nc.jetstream(), "goals")
        yield GoalsProducer(nc)
    finally:
        await nc.close()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def damage_projection(service: RunningService) -> None:
    """Lose rows, corrupt others and add a stray one: a rebuild must undo all three."""
    async with service.runtime.transaction() as conn:
        for table in (notes_homework, *PREP_TABLES):
            await conn.execute(delete(table))
        await conn.execute(update(notes_sessions).values(has_note=False, status="scheduled"))
        stray = {"clinic_id": CLINIC, "client_id": "alice", "counselor_id": "kim"}
        await conn.execute(
            insert(notes_sessions).values(
                session_id=uuid.uuid4(),
                starts_at=datetime.now(UTC),
                status="closed",
                has_note=True,
                **stray,
            )
        )
