"""This service's own tables (beside the shared event store): the reminders read model and its
per-channel deliveries, the in-app feed, the scheduler's delivery claims and error details, the
recipients' contact details and preferences, and the erased clients."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    literal,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_notifications.domain.model import URGENT
from rapport_shared.persistence import upserts
from rapport_shared.persistence.columns import Clinic, Moment, Person

metadata = MetaData()

# The projection: one row per reminder, built from this service's own events only. The words are
# rendered from `facts` when read or delivered, in the recipient's time zone of the moment.
reminders = Table(
    "reminders",
    metadata,
    Column("reminder_id", Uuid, primary_key=True),
    Column("clinic_id", Clinic, nullable=False),
    Column("recipient_id", Person, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("homework_id", Uuid),
    Column("due_at", Moment, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Moment, nullable=False),
    Column("sent_at", Moment),
    Column("failure_reason", Text),
    Column("client_id", Person),
    Column("session_id", Uuid),
    Column("goal_id", Uuid),
    Column("alert_id", Uuid),
    Column("facts", JSON),
    # Whether a channel is still to be attempted (Reminder.awaiting_delivery): what the scheduler
    # claims by, as a sent reminder may still have a channel being retried.
    Column("awaiting_delivery", Boolean, nullable=False),
    Index("ix_reminders_recipient", "clinic_id", "recipient_id"),
    Index("ix_reminders_awaiting", "awaiting_delivery", "next_attempt_at"),
    Index("ix_reminders_client", "clinic_id", "client_id"),
)

# The urgent kinds (risk alerts), whose reminders the scheduler claims before any other: a
# partial index holds just theirs, so finding those still to deliver costs nothing however long
# the backlog of ordinary ones (delivery_queue.claim_due). Its columns are those of
# ix_reminders_awaiting: SQLite, with no statistics to go by, then prefers it (on next_attempt_at
# alone it took ix_reminders_awaiting and read the whole backlog). The kinds are written into
# the statement, not bound, so that the databases see the query's condition is the index's; a
# new urgent kind needs a migration that makes the index again with it (0012_urgent_first).
URGENT_KIND: ColumnElement[bool] = reminders.c.kind.in_(
    [literal(kind, literal_execute=True) for kind in sorted(URGENT)]
)
Index(
    "ix_reminders_urgent_awaiting",
    reminders.c.awaiting_delivery,
    reminders.c.next_attempt_at,
    sqlite_where=URGENT_KIND,
    postgresql_where=URGENT_KIND,
)

# The projection, per channel: each planned channel's outcome (what the metrics count).
deliveries = Table(
    "deliveries",
    metadata,
    Column("reminder_id", Uuid, primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("sent_at", Moment),
    Column("failure_reason", String(40)),
)

# The in-app channel: delivering a reminder there is writing its row (in the transaction that
# records the delivery, so it happens exactly once). Read and marked read through the API.
feed = Table(
    "feed",
    metadata,
    Column("item_id", Uuid, primary_key=True),  # the reminder's id
    Column("clinic_id", Clinic, nullable=False),
    Column("recipient_id", Person, nullable=False),
    Column("client_id", Person),
    Column("kind", String(40), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Moment, nullable=False),
    Column("read_at", Moment),
    Index("ix_feed_recipient", "clinic_id", "recipient_id", "created_at"),
    Index("ix_feed_client", "clinic_id", "client_id"),
)

# Operational state, not a projection: a reminder is reserved here while it is being delivered,
# so rebuilding the projection never forgets a delivery in flight.
delivery_claims = Table(
    "delivery_claims",
    metadata,
    Column("reminder_id", Uuid, primary_key=True),
    Column("claimed_until", Moment, nullable=False),
)

# The wording of each channel's latest delivery error: it may name an address, so it stays out
# of the events (which carry a reason code) and goes with an erasure.
delivery_errors = Table(
    "delivery_errors",
    metadata,
    Column("reminder_id", Uuid, primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("clinic_id", Clinic, nullable=False),
    Column("recipient_id", Person, nullable=False),
    Column("detail", Text, nullable=False),
    Column("failed_at", Moment, nullable=False),
)

# Configuration, not a clinical fact: plain state, changed in place.
recipients = Table(
    "recipients",
    metadata,
    Column("clinic_id", Clinic, primary_key=True),
    Column("recipient_id", Person, primary_key=True),
    Column("email", String(254)),
    Column("updated_at", Moment, nullable=False),
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    Column("quiet_start", String(5)),
    Column("quiet_end", String(5)),
    Column("webhook_url", Text),
    Column("webhook_secret", Text),
    Column("preferences", JSON),
)

PROJECTION_TABLES = (reminders, deliveries)


async def upsert(
    conn: AsyncConnection,
    table: Table,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    key: Sequence[str],
) -> None:
    """Insert, or on a key conflict overwrite every other column the rows give (persistence's
    upsert, which replaces only the columns it is told); several rows with the same columns."""
    rows = [values] if isinstance(values, Mapping) else values
    replace = [name for name in rows[0] if name not in key]
    await upserts.upsert(conn, table, rows, replace, key=key)
