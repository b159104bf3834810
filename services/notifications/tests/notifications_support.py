"""Test helpers for the notifications service: homework events as the goals service sends them,
and the service running in-process against a real nats-server, database and SMTP server, with the
test playing the goals and sessions services."""

import contextlib
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from nats.js import JetStreamContext
from sqlalchemy import select

from rapport_devtools.natsserver import free_port
from rapport_devtools.testing import (
    TEST_AUTH_SECRET,
    ClinicAdminAuth,
    SmtpCollector,
    eventually,
    serving,
)
from rapport_notifications.bootstrap import build_app
from rapport_notifications.settings import NotificationsSettings
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.envelope import encode
from rapport_shared.contracts.goals import (
    AllianceAlertRaised,
    HomeworkAssigned,
    HomeworkCompleted,
    RiskFlagRaised,
)
from rapport_shared.messaging import connection
from rapport_shared.persistence.schema import dead_letters_table, processed_table
from rapport_shared.runtime.service import ServiceRuntime

CLINIC = "northside"


def now() -> datetime:
    return datetime.now(UTC)


def assignment(
    *,
    homework_id: UUID | None = None,
    client_id: str = "client-1",
    due_in: timedelta = timedelta(hours=1),
    instructions: str = "Write three lines in your gratitude journal every evening.",
    due_at: datetime | None = None,
    homework_type: str = "other",
    **extra: Any,
) -> HomeworkAssigned:
    return HomeworkAssigned(
        clinic_id=CLINIC,
        homework_id=homework_id or uuid4(),
        client_id=client_id,
        counselor_id="counselor-1",
        instructions=instructions,
        due_at=due_at or now() + due_in,
        assigned_at=now(),
        type=homework_type,
        **extra,
    )


def completion_of(assigned: HomeworkAssigned) -> HomeworkCompleted:
    return HomeworkCompleted(
        clinic_id=assigned.clinic_id,
        homework_id=assigned.homework_id,
        client_id=assigned.client_id,
        due_at=assigned.due_at,
        completed_at=now(),
    )


def risk_flag(client_id: str, *recipients: str, score: int = 3) -> RiskFlagRaised:
    """PHQ-9 item 9 answered with score, the flag naming recipients, as the goals service raises
    it."""
    return RiskFlagRaised(
        clinic_id=CLINIC,
        flag_id=uuid4(),
        measure_id=uuid4(),
        client_id=client_id,
        instrument="PHQ-9",
        item=9,
        score=score,
        threshold=1,
        alert_recipient_ids=recipients,
        raised_at=now(),
    )


def alliance_alert(client_id: str, counselor_id: str) -> AllianceAlertRaised:
    return AllianceAlertRaised(
        clinic_id=CLINIC,
        alert_id=uuid4(),
        measure_id=uuid4(),
        client_id=client_id,
        counselor_id=counselor_id,
        srs_total=30,
        threshold=36,
        raised_at=now(),
    )


@dataclass
class Harness:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    js: JetStreamContext
    smtp: SmtpCollector | None

    def mail_to(self, address: str) -> list[EmailMessage]:
        received = self.smtp.to(address) if self.smtp is not None else []
        return [_parse(content) for content in received]

    async def publish(self, event: EventContract, event_id: str | None = None) -> str:
        """Publish as the goals or sessions service would; a given event_id republishes a copy
        of an event under a fresh Nats-Msg-Id, as after JetStream's duplicate window."""
        event_id = event_id or str(uuid4())
        message = encode(
            event,
            event_id=event_id,
            stream_id=f"{event.event_type}-{uuid4()}",
            occurred_at=now(),
            metadata={"correlation_id": str(uuid4())},
        )
        headers = {**message.headers, "Nats-Msg-Id": str(uuid4())}
        await self.js.publish(message.subject, message.payload, headers=headers)
        return event_id

    async def set_email(self, recipient_id: str, address: str) -> None:
        await self.set_recipient(recipient_id, email=address)

    async def set_recipient(self, recipient_id: str, **settings: Any) -> dict[str, Any]:
        response = await self.client.put(
            f"/clinics/{CLINIC}/recipients/{recipient_id}", json=settings
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def feed(self, recipient_id: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"/clinics/{CLINIC}/recipients/{recipient_id}/feed", params=params
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def reminders(self, recipient_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/clinics/{CLINIC}/recipients/{recipient_id}/reminders")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_for_reminder(
        self, recipient_id: str, status: str, kind: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            listed = (await self.reminders(recipient_id))[status]
            return next((r for r in listed if r["kind"] == kind), None)

        return await eventually(found, timeout=timeout)

    async def wait_until_processed(self, *event_ids: str) -> None:
        async def all_processed() -> bool:
            async with self.runtime.engine.connect() as conn:
                rows = await conn.execute(
                    select(processed_table.c.event_id).where(
                        processed_table.c.event_id.in_(event_ids)
                    )
                )
                return {row.event_id for row in rows} == set(event_ids)

        await eventually(all_processed)

    async def wait_for_mail(self, address: str, count: int = 1) -> list[EmailMessage]:
        async def arrived() -> list[EmailMessage] | None:
            messages = self.mail_to(address)
            return messages if len(messages) >= count else None

        return await eventually(arrived)

    async def stream_events(self, stream_id: str) -> list[EventContract]:
        async with self.runtime.engine.connect() as conn:
            return [s.event for s in await self.runtime.store.load(conn, stream_id)]

    async def dead_letters(self) -> list[Any]:
        async with self.runtime.engine.connect() as conn:
            return list((await conn.execute(select(dead_letters_table))).all())

    async def published_counts(self) -> dict[str, int]:
        """Messages on this service's own stream, by subject."""
        info = await self.js.stream_info("RAPPORT_NOTIFICATIONS", subjects_filter=">")
        return dict(info.state.subjects or {})


@contextlib.asynccontextmanager
async def running_service(
    database_url: str,
    nats_url: str,
    data_dir: Path,
    *,
    smtp_up: bool = True,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """The service with fast loops, a real SMTP server (or, smtp_up=False, a port where nothing
    listens) and the goals stream declared, as its owner would."""
    smtp = SmtpCollector().start() if smtp_up else None
    try:
        config = NotificationsSettings(
            nats_url=nats_url,
            database_url=database_url,
            data_dir=str(data_dir),
            smtp_port=smtp.port if smtp is not None else free_port(),
            scheduler_interval_seconds=0.05,
            relay_poll_interval_seconds=0.1,
            consumer_retry_base_seconds=0.01,
            auth_secret=TEST_AUTH_SECRET,
            **settings,
        )
        nc = await connection.connect(nats_url, "test-goals")
        try:
            js = nc.jetstream()
            await connection.ensure_stream(js, "goals")
            await connection.ensure_stream(js, "sessions")
            app = build_app(config)
            async with (
                app.router.lifespan_context(app),
                # A clinic admin of the clinic each path names; headers=bearer(...) for another.
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://test",
                    auth=ClinicAdminAuth(),
                ) as client,
            ):
                await eventually(lambda: _ready(client))
                yield Harness(client, app.state.runtime, js, smtp)
        finally:
            await nc.close()
    finally:
        if smtp is not None:
            smtp.stop()


async def _ready(client: httpx.AsyncClient) -> bool:
    return await serving(client)


def _parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message
