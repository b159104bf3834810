"""Privacy: per-client keys (crypto-shredding), and room for encrypted wording in the notes.

notes_goals.description now holds an enc:v1 token of the goal's wording and
notes_homework.instructions one of the instructions: longer than the words themselves, so the
columns become unbounded text (SQLite never enforced the length).

Revision ID: 0004
Revises: 0003_auth
"""

import sqlalchemy as sa
from alembic import op

from rapport_shared.eventsourcing.crypto import client_keys_columns

revision = "0004"
down_revision = "0003_auth"
branch_labels = None
depends_on = None

_TOKEN_COLUMNS = (("notes_goals", "description"), ("notes_homework", "instructions"))


def upgrade() -> None:
    op.create_table("client_keys", *client_keys_columns())
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _TOKEN_COLUMNS:
            op.alter_column(table, column, type_=sa.Text())


def downgrade() -> None:
    op.drop_table("client_keys")
