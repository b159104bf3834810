"""Urgent reminders (risk alerts) are claimed before any other: a partial index of theirs, by
whether they await delivery and when, so the scheduler finds them at once however many ordinary
reminders fell due before them (delivery_queue.claim_due).

The kinds are the ones urgent when this revision was written; a kind made urgent later needs a
revision that makes the index again with it.

Revision ID: 0012_urgent_first
Revises: 0011_erasure_tombstones
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_urgent_first"
down_revision = "0011_erasure_tombstones"
branch_labels = None
depends_on = None

# As tables.URGENT_KIND renders it, so that the databases match the scheduler's query to it.
_URGENT_KIND = sa.column("kind", sa.String(40)).in_(
    [sa.literal("risk-alert", literal_execute=True)]
)


def upgrade() -> None:
    op.create_index(
        "ix_reminders_urgent_awaiting",
        "reminders",
        ["awaiting_delivery", "next_attempt_at"],
        sqlite_where=_URGENT_KIND,
        postgresql_where=_URGENT_KIND,
    )


def downgrade() -> None:
    op.drop_index("ix_reminders_urgent_awaiting", table_name="reminders")
