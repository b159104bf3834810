"""The webhook channel against a real HTTP receiver (uvicorn on a free port) that verifies the
Standard Webhooks signature the way an integrator would, and fails as often as it is told to."""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

import uvicorn
from notifications_support import assignment, running_service
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rapport_shared.natsserver import free_port
from rapport_shared.testing import eventually

KEY = b"a-32-byte-key-for-the-receiver!!"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
WEBHOOK_ONLY = {"homework-due": ["webhook"]}


@dataclass
class Receiver:
    """Answers 500 to the first `failures` valid deliveries (all of them when None), then 204."""

    failures: int | None
    port: int = field(default_factory=free_port)
    received: list[dict] = field(default_factory=list)
    forged: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/rapport"

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        message_id = request.headers["webhook-id"]
        timestamp = request.headers["webhook-timestamp"]
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
        offered = [s.removeprefix("v1,") for s in request.headers["webhook-signature"].split()]
        fresh = abs(time.time() - int(timestamp)) < 300  # the replay window receivers apply
        if not fresh or not any(hmac.compare_digest(expected, s) for s in offered):
            self.forged += 1
            return Response(status_code=401)
        self.received.append({"id": message_id, **json.loads(body)})
        if self.failures is None or len(self.received) <= self.failures:
            return Response(status_code=500)
        return Response(status_code=204)


@contextlib.asynccontextmanager
async def serving(receiver: Receiver):
    app = Starlette(routes=[Route("/hooks/rapport", receiver.handle, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=receiver.port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    try:
        await eventually(started)
        yield receiver
    finally:
        server.should_exit = True
        await task


async def test_a_failing_webhook_is_retried_with_backoff_until_it_succeeds_once(
    database_url, nats_server, tmp_path
):
    async with (
        serving(Receiver(failures=2)) as receiver,
        running_service(
            database_url,
            nats_server.url,
            tmp_path,
            delivery_max_attempts=4,
            delivery_backoff_seconds=0.1,
        ) as service,
    ):
        await service.set_recipient(
            "ana",
            email=None,
            webhook={"url": receiver.url, "secret": SECRET},
            preferences=WEBHOOK_ONLY,
        )
        homework = assignment(client_id="ana", homework_type="self-assessment")
        await service.publish(homework)

        sent = await service.wait_for_reminder("ana", "sent", "homework-due")
        assert [(d["channel"], d["status"], d["attempts"]) for d in sent["deliveries"]] == [
            ("webhook", "sent", 3)
        ]
        assert receiver.forged == 0
        assert len(receiver.received) == 3
        # One id across the retries, so the receiver can tell a repeat from a new message.
        assert {r["id"] for r in receiver.received} == {f"reminder-{sent['reminder_id']}"}
        last = receiver.received[-1]
        assert last["type"] == "reminder.homework-due"
        assert last["data"]["reminder_id"] == sent["reminder_id"]
        assert last["data"]["body"].startswith("A gentle reminder: your self-assessment for ")
        events = await service.stream_events(f"reminder-{sent['reminder_id']}")
        waits = [
            e.next_attempt_at - e.failed_at
            for e in events
            if e.event_type == "delivery-attempt-failed"
        ]
        assert [w.total_seconds() for w in waits] == [0.1, 0.2]  # exponential backoff


async def test_a_webhook_that_keeps_failing_is_recorded_failed_with_its_reason(
    database_url, nats_server, tmp_path
):
    async with (
        serving(Receiver(failures=None)) as receiver,
        running_service(
            database_url,
            nats_server.url,
            tmp_path,
            delivery_max_attempts=2,
            delivery_backoff_seconds=0.05,
        ) as service,
    ):
        await service.set_recipient(
            "ana", email=None, webhook={"url": receiver.url, "secret": SECRET}
        )
        # Nothing listens at ben's URL.
        nowhere = f"http://127.0.0.1:{free_port()}/hook"
        await service.set_recipient(
            "ben", email=None, webhook={"url": nowhere, "secret": SECRET}, preferences=WEBHOOK_ONLY
        )
        await service.publish(assignment(client_id="ana"))
        await service.publish(assignment(client_id="ben"))

        # ana: the feed got it (sent), the webhook did not (failed): recorded, not dropped.
        sent = await service.wait_for_reminder("ana", "sent", "homework-due")

        async def webhook_failed():
            listed = (await service.reminders("ana"))["sent"]
            deliveries = {d["channel"]: d for d in listed[0]["deliveries"]}
            return deliveries if deliveries["webhook"]["status"] == "failed" else None

        deliveries = await eventually(webhook_failed)
        assert deliveries["webhook"]["failure_reason"] == "webhook-http-error"
        assert deliveries["webhook"]["attempts"] == 2
        assert deliveries["feed"]["status"] == "sent"
        assert len(receiver.received) == 2 and receiver.forged == 0
        assert sent["reminder_id"] in receiver.received[0]["id"]

        unreachable = await service.wait_for_reminder("ben", "failed", "homework-due")
        assert unreachable["failure_reason"] == "webhook-unreachable"

        metrics = (await service.client.get("/metrics")).text
        assert 'rapport_reminders{channel="webhook",status="failed"} 2.0' in metrics
        assert 'rapport_reminders{channel="feed",status="sent"} 1.0' in metrics


async def test_a_reminder_delivered_by_email_and_feed_is_sent_while_its_webhook_is_retried(
    database_url, nats_server, tmp_path
):
    async with (
        serving(Receiver(failures=None)) as receiver,
        running_service(
            database_url,
            nats_server.url,
            tmp_path,
            delivery_max_attempts=1000,
            delivery_backoff_seconds=0.05,
            delivery_backoff_max_seconds=0.05,
        ) as service,
    ):
        await service.set_recipient(
            "ana", email="ana@example.org", webhook={"url": receiver.url, "secret": SECRET}
        )
        await service.publish(assignment(client_id="ana"))

        async def retried_and_listed_as_sent():
            sent = (await service.reminders("ana"))["sent"]
            if not sent or len(receiver.received) < 2:
                return None
            return {d["channel"]: d["status"] for d in sent[0]["deliveries"]}

        # Sent once one channel delivered; each channel's own outcome stays visible.
        deliveries = await eventually(retried_and_listed_as_sent)
        assert deliveries == {"email": "sent", "feed": "sent", "webhook": "pending"}
        assert (await service.reminders("ana"))["pending"] == []

        # Being sent does not end the webhook's retries: once the receiver accepts, it is sent.
        receiver.failures = len(receiver.received)

        async def webhook_sent():
            sent = (await service.reminders("ana"))["sent"]
            webhook = next(d for d in sent[0]["deliveries"] if d["channel"] == "webhook")
            return webhook if webhook["status"] == "sent" else None

        await eventually(webhook_sent)
        assert len(service.mail_to("ana@example.org")) == 1
