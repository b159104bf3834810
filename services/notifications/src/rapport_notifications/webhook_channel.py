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
from rapport_shared.contracts.notifications import FailureReason, ReminderKind
from rapport_shared.web.egress import EgressRefused
from rapport_shared.web.egress_http import Egress

SECRET_PREFIX = "whsec_"
FAILED: FailureReason = "webhook-failed"


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
    """Sends where the egress rules allow (rapport_shared.web.egress). Whatever went wrong, the
    recorded reason is one code, webhook-failed, which is what the recipient can read: refused
    by the rules, connection refused, a timeout or an HTTP status would tell them about the
    network behind the URL. The detail is kept for operators (delivery_errors) only."""

    def __init__(self, egress: Egress) -> None:
        self._egress = egress

    async def send(self, *, url: str, secret: str, message_id: str, body: bytes) -> None:
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, message_id, timestamp, body),
        }
        try:
            response = await self._egress.post(url, content=body, headers=headers)
        except EgressRefused as refused:
            raise DeliveryFailed(
                Failure(FAILED, f"refused by the egress rules: {refused}")
            ) from refused
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise DeliveryFailed(Failure(FAILED, f"{type(error).__name__}: {error}")) from error
        if not response.is_success:  # a redirect too: it is not followed
            raise DeliveryFailed(Failure(FAILED, f"HTTP {response.status_code}"))
