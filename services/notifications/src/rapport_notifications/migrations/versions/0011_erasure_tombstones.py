"""One erasure mechanism: an erased client is the tombstone of their key in client_keys, as in
every service, and erased_clients (a hash of clinic and client id per erased client) goes.

Every erasure since 0010 wrote both. A client erased before 0010 is only a hash: their tombstone
is made here when this service's event log names them (a reminder to them or about them, which
is what a rebuild would bring back and what a later event of theirs would add to). A hash that
no event here names stays unmatched and is dropped with the table: such a client never had a
reminder in this service.

Downgrade: erased_clients again, a hash for every tombstone.

Revision ID: 0011_erasure_tombstones
Revises: 0010_sealed_answers
"""

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.persistence.schema import events_table

revision = "0011_erasure_tombstones"
down_revision = "0010_sealed_answers"
branch_labels = None
depends_on = None

# As 0004 made it.
_erased_clients = sa.table(
    "erased_clients",
    sa.column("client_key", sa.String(64)),
    sa.column("erased_at", sa.DateTime(timezone=True)),
)


def _hash(clinic_id: str, client_id: str) -> str:
    """erased_clients' key, as the notifications service computed it before this revision."""
    return hashlib.sha256(f"{clinic_id}/{client_id}".encode()).hexdigest()


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_erased_clients.c.client_key, _erased_clients.c.erased_at))
    erased = {key: at for key, at in rows}
    if erased:
        tombstones = {
            (clinic_id, client_id): erased[key]
            for clinic_id, client_id in _named_in_the_log(conn)
            if (key := _hash(clinic_id, client_id)) in erased
        }
        for (clinic_id, client_id), at in tombstones.items():
            _destroy(conn, clinic_id, client_id, at)
    op.drop_table("erased_clients")


def downgrade() -> None:
    op.create_table(
        "erased_clients",
        sa.Column("client_key", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(client_keys.c.clinic_id, client_keys.c.client_id, client_keys.c.erased_at).where(
            client_keys.c.erased_at.is_not(None)
        )
    )
    hashes = [{"client_key": _hash(clinic, client), "erased_at": at} for clinic, client, at in rows]
    if hashes:
        conn.execute(sa.insert(_erased_clients), hashes)


def _named_in_the_log(conn: sa.Connection) -> Iterator[tuple[str, str]]:
    """Every (clinic, person) a reminder's first event names: its recipient and its client."""
    scheduled = sa.select(events_table.c.data).where(
        events_table.c.event_type == "reminder-scheduled"
    )
    rows = conn.execute(scheduled.execution_options(yield_per=1000))
    for (stored,) in rows:
        data = json.loads(stored) if isinstance(stored, str) else stored
        for person in (data.get("recipient_id"), data.get("client_id")):
            if person:
                yield data["clinic_id"], person


def _destroy(conn: sa.Connection, clinic_id: str, client_id: str, at: datetime) -> None:
    """KeyRing.destroy's effect, in the migration's own connection: no key, erased at `at`."""
    theirs = (client_keys.c.clinic_id == clinic_id) & (client_keys.c.client_id == client_id)
    if conn.execute(sa.select(client_keys.c.client_id).where(theirs)).first() is None:
        conn.execute(
            sa.insert(client_keys).values(
                clinic_id=clinic_id, client_id=client_id, key=None, created_at=at, erased_at=at
            )
        )
    else:
        conn.execute(sa.update(client_keys).where(theirs).values(key=None, erased_at=at))
