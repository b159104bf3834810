"""HTTP API: recipients' contact details and delivery preferences, each recipient's reminders,
and their in-app feed."""

import base64
import binascii
import re
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rapport_notifications import recipient_store, views
from rapport_notifications.service_layer import handlers
from rapport_notifications.webhook_channel import SECRET_PREFIX
from rapport_shared.contracts.base import PersonId
from rapport_shared.contracts.clinic import CLINIC_SLUG_PATTERN
from rapport_shared.contracts.clock import utc_now
from rapport_shared.contracts.errors import DomainError, NotFound
from rapport_shared.contracts.notifications import Channel, ReminderKind
from rapport_shared.runtime.service import Runtime
from rapport_shared.security.access import FromPath, authorize
from rapport_shared.security.policy import Action
from rapport_shared.web.egress import EgressRefused
from rapport_shared.web.egress_http import Egress
from rapport_shared.web.request_models import ClockTime

router = APIRouter(prefix="/clinics/{clinic_id}", tags=["notifications"])

ClinicIdPath = Annotated[str, Path(pattern=CLINIC_SLUG_PATTERN, max_length=63)]
RecipientIdPath = Annotated[PersonId, Path()]

# The WHATWG (HTML form) rule for an address, with a dot required in the domain: the
# email-validator package is not a dependency, and a typo should not wait for an SMTP bounce.
_EMAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)


def _email_address(value: str) -> str:
    if not _EMAIL_ADDRESS.fullmatch(value):
        raise PydanticCustomError("email", "not an email address, e.g. alex@example.org")
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "not an IANA time zone, e.g. Europe/Berlin"
        ) from None
    return value


def _webhook_secret(value: str) -> str:
    # Standard Webhooks: "whsec_" and the base64 of 24 to 64 random bytes.
    try:
        key = base64.b64decode(value.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not value.startswith(SECRET_PREFIX) or not 24 <= len(key) <= 64:
        raise PydanticCustomError(
            "webhook_secret", "not a webhook secret: whsec_ and the base64 of 24 to 64 bytes"
        )
    return value


# "format: email" in the schema tells clients (and the fuzzer) what is expected.
EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_email_address),
    Field(json_schema_extra={"format": "email"}),
]
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_time_zone)]


class QuietHoursIn(BaseModel):
    """Local wall-clock times in the recipient's zone; start after end spans midnight."""

    model_config = ConfigDict(extra="forbid")
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> "QuietHoursIn":
        if self.start == self.end:
            raise PydanticCustomError("quiet_hours", "start and end must differ")
        return self


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[AnyHttpUrl, Field()]
    secret: Annotated[str, StringConstraints(max_length=200), AfterValidator(_webhook_secret)]


class RecipientSettings(BaseModel):
    """email is required (null: none); the other fields, when left out, keep their stored value
    (so a client that only sends an address changes only the address); null clears them."""

    model_config = ConfigDict(extra="forbid")
    email: EmailAddress | None
    time_zone: TimeZone | None = None
    quiet_hours: QuietHoursIn | None = None
    webhook: WebhookIn | None = None
    # Per kind, the channels wanted; [] opts out of the kind. Kinds left out get every channel
    # set up (the feed, plus email and webhook when on file).
    preferences: dict[ReminderKind, Annotated[list[Channel], Field(max_length=3)]] | None = None


class MarkRead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_ids: Annotated[list[UUID], Field(min_length=1, max_length=100)]


class MarkedRead(BaseModel):
    marked: int


def _webhook_egress(request: Request) -> Egress:
    egress: Egress = request.app.state.webhook_egress  # set by bootstrap.build_app
    return egress


WebhookEgress = Annotated[Egress, Depends(_webhook_egress)]


async def _check_webhook_url(egress: Egress, url: str) -> None:
    """Where a webhook may go (rapport_shared.web.egress): refused here, and checked again at each
    delivery, as what a name resolves to can change."""
    try:
        await egress.vet(url, must_resolve=False)
    except EgressRefused as refused:
        raise DomainError(f"the webhook URL {refused}", field="webhook.url") from None


def _changes(body: RecipientSettings) -> dict[str, object]:
    given = body.model_fields_set
    changes: dict[str, object] = {"email": body.email}
    if "time_zone" in given:
        changes["time_zone"] = body.time_zone or "UTC"
    if "quiet_hours" in given:
        quiet = body.quiet_hours
        changes["quiet_start"] = quiet and f"{quiet.start:%H:%M}"
        changes["quiet_end"] = quiet and f"{quiet.end:%H:%M}"
    if "webhook" in given:
        webhook = body.webhook
        changes["webhook_url"] = webhook and str(webhook.url)
        changes["webhook_secret"] = webhook and webhook.secret
    if "preferences" in given:
        changes["preferences"] = body.preferences and {
            kind: list(dict.fromkeys(channels)) for kind, channels in body.preferences.items()
        }
    return changes


# A recipient is usually a client (their own settings and reminders), sometimes a counselor.
@router.put(
    "/recipients/{recipient_id}",
    dependencies=[authorize(Action.CLIENT_WRITE, FromPath("recipient_id"))],
)
async def set_recipient(
    clinic_id: ClinicIdPath,
    recipient_id: RecipientIdPath,
    body: RecipientSettings,
    runtime: Runtime,
    egress: WebhookEgress,
) -> views.RecipientView:
    if body.webhook is not None:
        await _check_webhook_url(egress, str(body.webhook.url))
    async with runtime.transaction() as conn:
        row = await recipient_store.save(conn, clinic_id, recipient_id, _changes(body))
    return views.recipient_view(recipient_id, row)


@router.get(
    "/recipients/{recipient_id}",
    dependencies=[authorize(Action.CLIENT_READ, FromPath("recipient_id"))],
)
async def get_recipient(
    clinic_id: ClinicIdPath, recipient_id: RecipientIdPath, runtime: Runtime
) -> views.RecipientView:
    async with runtime.engine.connect() as conn:
        row = await recipient_store.load(conn, clinic_id, recipient_id)
    if row is None:
        raise NotFound(f"no settings for recipient {recipient_id}", field="recipient_id")
    return views.recipient_view(recipient_id, row)


@router.get(
    "/recipients/{recipient_id}/reminders",
    dependencies=[authorize(Action.CLIENT_READ, FromPath("recipient_id"))],
)
async def recipient_reminders(
    clinic_id: ClinicIdPath, recipient_id: RecipientIdPath, runtime: Runtime
) -> views.RecipientReminders:
    async with runtime.engine.connect() as conn:
        return await views.reminders_of(conn, clinic_id, recipient_id)


@router.get(
    "/recipients/{recipient_id}/feed",
    dependencies=[authorize(Action.CLIENT_READ, FromPath("recipient_id"))],
)
async def recipient_feed(
    clinic_id: ClinicIdPath,
    recipient_id: RecipientIdPath,
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[str | None, Query(max_length=200)] = None,
) -> views.FeedPage:
    async with runtime.engine.connect() as conn:
        return await views.feed_of(conn, clinic_id, recipient_id, limit, before)


@router.post(
    "/recipients/{recipient_id}/feed/read",
    dependencies=[authorize(Action.CLIENT_WRITE, FromPath("recipient_id"))],
)
async def mark_feed_read(
    clinic_id: ClinicIdPath, recipient_id: RecipientIdPath, body: MarkRead, runtime: Runtime
) -> MarkedRead:
    async with runtime.transaction() as conn:
        marked = await handlers.mark_feed_read(
            conn, utc_now(), clinic_id, recipient_id, body.item_ids
        )
    return MarkedRead(marked=marked)
