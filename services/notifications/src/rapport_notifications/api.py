"""HTTP API: recipients' email addresses, and each recipient's reminders."""

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from rapport_notifications import views
from rapport_notifications.service_layer import handlers
from rapport_shared.clinic import CLINIC_SLUG_PATTERN
from rapport_shared.contracts.base import PersonId
from rapport_shared.runtime import ServiceRuntime

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


# "format: email" in the schema tells clients (and the fuzzer) what is expected.
EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_email_address),
    Field(json_schema_extra={"format": "email"}),
]


class RecipientContact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailAddress


class RecipientContactSaved(BaseModel):
    recipient_id: str
    email: str


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]


@router.put("/recipients/{recipient_id}")
async def set_recipient_contact(
    clinic_id: ClinicIdPath, recipient_id: RecipientIdPath, body: RecipientContact, runtime: Runtime
) -> RecipientContactSaved:
    async with runtime.transaction() as conn:
        await handlers.set_recipient_email(conn, clinic_id, recipient_id, body.email)
    return RecipientContactSaved(recipient_id=recipient_id, email=body.email)


@router.get("/recipients/{recipient_id}/reminders")
async def recipient_reminders(
    clinic_id: ClinicIdPath, recipient_id: RecipientIdPath, runtime: Runtime
) -> views.RecipientReminders:
    async with runtime.engine.connect() as conn:
        return await views.reminders_of(conn, clinic_id, recipient_id)
