"""What the prep brief says of the risk flags raised and not yet acknowledged, and of the
measures asked for, due and missed.

Revision ID: 0011_risk_flags_measure_asks
Revises: 0010_sealed_answers
"""

import sqlalchemy as sa
from alembic import op

from rapport_shared.persistence.columns import clinic_and_client as _owner

revision = "0011_risk_flags_measure_asks"
down_revision = "0010_sealed_answers"
branch_labels = None
depends_on = None

_CLIENT = ["clinic_id", "client_id"]


def upgrade() -> None:
    op.create_table(
        "prep_risk_flags",
        sa.Column("flag_id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column("measure_id", sa.Uuid()),
        sa.Column("instrument", sa.String(10)),
        sa.Column("item", sa.Integer()),
        sa.Column("score", sa.Integer()),
        sa.Column("threshold", sa.Integer()),
        sa.Column("raised_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_prep_risk_flags_client", "prep_risk_flags", _CLIENT)
    op.create_table(
        "prep_measure_asks",
        sa.Column("ask_id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column("instrument", sa.String(10), nullable=False),
        sa.Column("timing", sa.String(20)),
        sa.Column("session_id", sa.Uuid()),
        sa.Column("ask_at", sa.DateTime(timezone=True)),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("deadline", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(10)),
        sa.Column("measure_id", sa.Uuid()),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_prep_measure_asks_client", "prep_measure_asks", _CLIENT)


def downgrade() -> None:
    op.drop_table("prep_measure_asks")
    op.drop_table("prep_risk_flags")
