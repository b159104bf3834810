"""Recipients' contact details and delivery preferences: plain configuration, changed in place
by the API and read by the scheduler."""

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.domain.recipients import QuietHours, RecipientProfile
from rapport_notifications.tables import recipients, upsert


@dataclass(frozen=True)
class Contact:
    """Where a recipient's reminders go, and how they want them."""

    email: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    profile: RecipientProfile = RecipientProfile()


def contact_from(row: Row[Any] | None) -> Contact:
    if row is None:
        return Contact()
    quiet = None
    if row.quiet_start and row.quiet_end:
        quiet = QuietHours(time.fromisoformat(row.quiet_start), time.fromisoformat(row.quiet_end))
    preferences = {kind: tuple(channels) for kind, channels in (row.preferences or {}).items()}
    return Contact(
        email=row.email,
        webhook_url=row.webhook_url,
        webhook_secret=row.webhook_secret,
        profile=RecipientProfile(
            time_zone=row.time_zone,
            quiet_hours=quiet,
            has_email=row.email is not None,
            has_webhook=row.webhook_url is not None,
            preferences=preferences,
        ),
    )


async def load(conn: AsyncConnection, clinic_id: str, recipient_id: str) -> Row[Any] | None:
    found = await conn.execute(
        select(recipients).where(
            recipients.c.clinic_id == clinic_id, recipients.c.recipient_id == recipient_id
        )
    )
    return found.first()


async def save(
    conn: AsyncConnection, clinic_id: str, recipient_id: str, changes: dict[str, Any]
) -> Row[Any]:
    """Set the given columns; the others keep their stored values (or their defaults)."""
    await upsert(
        conn,
        recipients,
        {
            "clinic_id": clinic_id,
            "recipient_id": recipient_id,
            **changes,
            "updated_at": datetime.now(UTC),
        },
        key=["clinic_id", "recipient_id"],
    )
    row = await load(conn, clinic_id, recipient_id)
    assert row is not None
    return row
