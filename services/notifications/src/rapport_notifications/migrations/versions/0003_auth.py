"""Authorization and audit: the append-only audit log and the care-team projection.

Revision ID: 0003_auth
Revises: 0001
"""

from rapport_shared.persistence.shared_migrations import (
    create_access_tables_v1,
    drop_access_tables_v1,
)

revision = "0003_auth"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_access_tables_v1()


def downgrade() -> None:
    drop_access_tables_v1()
