"""Clinical safety and measures on a schedule: risk flags and measure asks (projections of
this service's events), a clinic's risk settings, and the clients with a measurement plan
(with the periodic round's bookmark).

Revision ID: 0011_clinical_safety
Revises: 0010_sealed_answers
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011_clinical_safety"
down_revision = "0010_sealed_answers"
branch_labels = None
depends_on = None


def _moment(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _owner() -> tuple[sa.Column[Any], sa.Column[Any]]:
    return (
        sa.Column("clinic_id", sa.String(63), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
    )


def upgrade() -> None:
    op.create_table(
        "risk_flags",
        sa.Column("flag_id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("instrument", sa.String(8), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        _moment("raised_at"),
        sa.Column("acknowledged_by", sa.String(64)),
        _moment("acknowledged_at", nullable=True),
    )
    op.create_index("ix_risk_flags_client", "risk_flags", ["clinic_id", "client_id"])
    op.create_table(
        "measure_asks",
        sa.Column("ask_id", sa.Uuid(), primary_key=True),
        *_owner(),
        sa.Column("instrument", sa.String(8), nullable=False),
        sa.Column("timing", sa.String(16), nullable=False),
        sa.Column("session_id", sa.Uuid()),
        _moment("ask_at"),
        _moment("due_at"),
        _moment("deadline"),
        sa.Column("status", sa.String(16), nullable=False),
        _moment("closed_at", nullable=True),
        sa.Column("measure_id", sa.Uuid()),
    )
    op.create_index("ix_measure_asks_client", "measure_asks", ["clinic_id", "client_id", "status"])
    op.create_index("ix_measure_asks_status_deadline", "measure_asks", ["status", "deadline"])
    op.create_index("ix_measure_asks_session", "measure_asks", ["session_id"])
    op.create_table(
        "risk_settings",
        sa.Column("clinic_id", sa.String(63), primary_key=True),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("alert_care_team", sa.Boolean(), nullable=False),
        sa.Column("admin_ids", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        _moment("updated_at"),
    )
    op.create_table(
        "measurement_plans",
        sa.Column("clinic_id", sa.String(63), primary_key=True),
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("periodic", sa.Boolean(), nullable=False),
        _moment("asked_through", nullable=True),
    )


def downgrade() -> None:
    for table in ("measurement_plans", "risk_settings", "measure_asks", "risk_flags"):
        op.drop_table(table)
