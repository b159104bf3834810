"""The webhook channel: an HTTP POST signed per the Standard Webhooks scheme
(https://www.standardwebhooks.com): headers webhook-id (the reminder's id, the same on every
retry, so a receiver can drop repeats), webhook-timestamp (Unix seconds) and webhook-signature
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the base64-decoded part of the
recipient's `whsec_...` secret."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx

from rapport_notifications.domain.messages import Message
from rapport_notifications.domain.model import Failure
from rapport_notifications.email_channel import DeliveryFailed
from rapport_shared.contracts.notifications import ReminderKind

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(
    *, kind: ReminderKind, reminder_id: str, recipient_id: str, message: Message, now: datetime
) -> bytes:
    return json.dumps(
        {
            "type": f"reminder.{kind}",
            "timestamp": now.astimezone(UTC).isoformat(),
            "data": {
                "reminder_id": reminder_id,
                "recipient_id": recipient_id,
                "kind": kind,
                "subject": message.subject,
                "body": message.body,
            },
        },
        separators=(",", ":"),
    ).encode()


class WebhookChannel:
    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds

    async def send(self, *, url: str, secret: str, message_id: str, body: bytes) -> None:
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, message_id, timestamp, body),
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            detail = f"{type(error).__name__}: {error}"
            raise DeliveryFailed(Failure("webhook-unreachable", detail)) from error
        if not response.is_success:
            raise DeliveryFailed(Failure("webhook-http-error", f"HTTP {response.status_code}"))
