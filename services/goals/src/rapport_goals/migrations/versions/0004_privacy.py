"""Privacy: per-client keys (crypto-shredding), and encrypted wording in the progress model.

goal_progress.wording holds an enc:v1 token of the goal's words (description, measure, target,
milestone and GAS level descriptions); the plaintext columns description, measure and target
are left empty for goals agreed from now on. client_homework.instructions holds a token, longer
than the words themselves, so it becomes unbounded text (SQLite never enforced the length).

Revision ID: 0004
Revises: 0003_auth
"""

import sqlalchemy as sa
from alembic import op

from rapport_shared.eventsourcing.client_keys_migrations import (
    create_client_keys_table,
    drop_client_keys_table,
)
from rapport_shared.persistence.migrations import widen_to_text

revision = "0004"
down_revision = "0003_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_client_keys_table()
    op.add_column("goal_progress", sa.Column("wording", sa.Text()))
    widen_to_text("client_homework", "instructions")


def downgrade() -> None:
    op.drop_column("goal_progress", "wording")
    drop_client_keys_table()
