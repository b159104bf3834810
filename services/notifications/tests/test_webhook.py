"""The webhook channel against a real HTTP receiver (uvicorn on a free port) that verifies the
Standard Webhooks signature the way an integrator would, and fails as often as it is told to."""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import time
from dataclasses import dataclass, field

import uvicorn
from notifications_support import assignment, running_service
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rapport_devtools.natsserver import free_port
from rapport_devtools.testing import eventually
from rapport_notifications import recipient_store
from rapport_notifications.tables import delivery_errors

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

    # Every request that reached the receiver, valid or not.
    hits: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}/hooks/rapport"

    async def handle(self, request: Request) -> Response:
        self.hits += 1
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
            webhook_allowed_hosts=receiver.host,
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


async def test_a_webhook_that_keeps_failing_is_recorded_failed_with_one_reason_for_all(
    database_url, nats_server, tmp_path
):
    closed_port = free_port()
    async with (
        serving(Receiver(failures=None)) as receiver,
        running_service(
            database_url,
            nats_server.url,
            tmp_path,
            delivery_max_attempts=2,
            delivery_backoff_seconds=0.05,
            webhook_allowed_hosts=f"{receiver.host}, 127.0.0.1:{closed_port}",
        ) as service,
    ):
        await service.set_recipient(
            "ana", email=None, webhook={"url": receiver.url, "secret": SECRET}
        )
        # Nothing listens at ben's URL.
        nowhere = f"http://127.0.0.1:{closed_port}/hook"
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
        assert deliveries["webhook"]["failure_reason"] == "webhook-failed"
        assert deliveries["webhook"]["attempts"] == 2
        assert deliveries["feed"]["status"] == "sent"
        assert len(receiver.received) == 2 and receiver.forged == 0
        assert sent["reminder_id"] in receiver.received[0]["id"]

        # A closed port reads the same as a receiver answering 500: what the recipient sees does
        # not map the network behind the URL. Operators have the detail.
        unreachable = await service.wait_for_reminder("ben", "failed", "homework-due")
        assert unreachable["failure_reason"] == "webhook-failed"
        assert [d["failure_reason"] for d in unreachable["deliveries"]] == ["webhook-failed"]
        details = await _error_details(service)
        assert details[sent["reminder_id"]] == "HTTP 500"
        assert details[unreachable["reminder_id"]].startswith("ConnectError: ")

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
            webhook_allowed_hosts=receiver.host,
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


async def _error_details(service) -> dict[str, str]:
    async with service.runtime.engine.connect() as conn:
        rows = await conn.execute(select(delivery_errors.c.reminder_id, delivery_errors.c.detail))
        return {str(row.reminder_id): row.detail for row in rows}


def _internal_urls(port: int) -> list[str]:
    urls = [
        f"http://127.0.0.1:{port}/hooks/rapport",
        f"https://127.0.0.1:{port}/hooks/rapport",
        f"https://[::1]:{port}/hooks",
        f"https://[::ffff:127.0.0.1]:{port}/hooks",
        f"https://2130706433:{port}/hooks",
        f"https://0x7f.1:{port}/hooks",
        f"https://localhost:{port}/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hooks",
        "https://[fd00:ec2::254]/latest",
        "https://224.0.0.1/hooks",
    ]
    if hostname := _resolvable_hostname():
        urls.append(f"https://{hostname}:{port}/hooks")
    return urls


def _resolvable_hostname() -> str | None:
    """The machine's own name, when it resolves: to a loopback or private address, as a name
    that an attacker points inside would."""
    try:
        socket.getaddrinfo(socket.gethostname(), 443)
    except OSError:
        return None
    return socket.gethostname()


async def test_a_webhook_url_that_reaches_inside_the_network_is_refused_when_set(
    database_url, nats_server, tmp_path
):
    async with (
        serving(Receiver(failures=0)) as receiver,
        running_service(database_url, nats_server.url, tmp_path) as service,
    ):
        path = "/clinics/northside/recipients/ana"
        for url in _internal_urls(receiver.port):
            response = await service.client.put(
                path, json={"email": None, "webhook": {"url": url, "secret": SECRET}}
            )
            assert response.status_code == 422, (url, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in response.json()["errors"]] == ["webhook.url"], url
        # Nothing half-written: no settings were stored.
        assert (await service.client.get(path)).status_code == 404
        # A public https URL is fine (its name need not resolve yet: each delivery checks it).
        public = "https://hooks.example.org/rapport"
        stored = await service.set_recipient(
            "ana", email=None, webhook={"url": public, "secret": SECRET}
        )
        assert stored["webhook_url"] == public
        assert receiver.hits == 0


async def test_a_delivery_to_a_url_that_now_reaches_inside_is_refused_and_sends_nothing(
    database_url, nats_server, tmp_path
):
    # URLs stored before these rules, or names whose DNS answer changed since they were set:
    # the rules are applied again at each delivery, and the receiver must get no request.
    async with (
        serving(Receiver(failures=0)) as receiver,
        running_service(
            database_url, nats_server.url, tmp_path, delivery_max_attempts=1
        ) as service,
    ):
        stored = {
            "ana": receiver.url,
            "ben": f"https://localhost:{receiver.port}/hooks/rapport",
            "cy": f"https://2130706433:{receiver.port}/hooks/rapport",
            "dee": f"https://[::ffff:127.0.0.1]:{receiver.port}/hooks/rapport",
        }
        if hostname := _resolvable_hostname():  # a name whose DNS answer is internal
            stored["eve"] = f"https://{hostname}:{receiver.port}/hooks/rapport"
        async with service.runtime.transaction() as conn:
            for recipient, url in stored.items():
                await recipient_store.save(
                    conn,
                    "northside",
                    recipient,
                    {"email": None, "webhook_url": url, "webhook_secret": SECRET},
                )
        for recipient in stored:
            await service.publish(assignment(client_id=recipient))
        for recipient in stored:
            reminder = await service.wait_for_reminder(recipient, "sent", "homework-due")

            async def webhook_failed(recipient=recipient):
                listed = (await service.reminders(recipient))["sent"]
                webhook = next(d for d in listed[0]["deliveries"] if d["channel"] == "webhook")
                return webhook if webhook["status"] == "failed" else None

            assert (await eventually(webhook_failed))["failure_reason"] == "webhook-failed"
            detail = (await _error_details(service))[reminder["reminder_id"]]
            assert detail.startswith("refused by the egress rules:"), detail
        assert receiver.hits == 0
