"""The events table loses an index no query used (see drop_events_clinic_time_index).

Revision ID: 0006
Revises: 0005
"""

from rapport_shared.persistence.shared_migrations import (
    create_events_clinic_time_index,
    drop_events_clinic_time_index,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_events_clinic_time_index()


def downgrade() -> None:
    create_events_clinic_time_index()
