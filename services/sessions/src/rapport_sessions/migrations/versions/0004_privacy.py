"""Privacy: per-client keys (crypto-shredding), and room for encrypted wording in the notes.

notes_goals.description now holds an enc:v1 token of the goal's wording and
notes_homework.instructions one of the instructions: longer than the words themselves, so the
columns become unbounded text (SQLite never enforced the length).

Revision ID: 0004
Revises: 0003_auth
"""

from rapport_shared.eventsourcing.client_keys_migrations import (
    create_client_keys_table,
    drop_client_keys_table,
)
from rapport_shared.persistence.migrations import widen_to_text

revision = "0004"
down_revision = "0003_auth"
branch_labels = None
depends_on = None

_TOKEN_COLUMNS = (("notes_goals", "description"), ("notes_homework", "instructions"))


def upgrade() -> None:
    create_client_keys_table()
    for table, column in _TOKEN_COLUMNS:
        widen_to_text(table, column)


def downgrade() -> None:
    drop_client_keys_table()
