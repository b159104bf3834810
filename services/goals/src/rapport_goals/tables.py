"""The progress read model, and the clinical safety tables. The migrations (0001_initial,
0002_clinical_depth, 0004_privacy, 0011_clinical_safety) create exactly these tables."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from rapport_shared.persistence.columns import Clinic, Moment, Person, clinic_and_client

metadata = MetaData()

# One row per goal: what was agreed, and how its homework is going.
goal_progress = Table(
    "goal_progress",
    metadata,
    Column("goal_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("counselor_id", Person, nullable=False),
    Column("session_id", Uuid),
    Column("description", String(2000), nullable=False),
    Column("measure", String(2000), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("agreed_at", Moment, nullable=False),
    Column("homework_assigned", Integer, nullable=False),
    Column("homework_completed", Integer, nullable=False),
    Column("completed_on_time", Integer, nullable=False),
    # 0002: the goal's clinical terms and FHIR status. Server defaults fill rows agreed before.
    Column("type", String(16), nullable=False, server_default="behavioral"),
    Column("horizon", String(16), nullable=False, server_default="short-term"),
    Column("priority", String(8), nullable=False, server_default="medium"),
    Column("review_every_days", Integer),
    Column("milestones", JSON, nullable=False, server_default="[]"),
    Column("gas_scale", JSON),
    Column("gas_weight", Float, nullable=False, server_default="1.0"),
    Column("lifecycle_status", String(20), nullable=False, server_default="active"),
    Column("achievement_status", String(20), nullable=False, server_default="in-progress"),
    Column("attained_level", Integer),
    Column("last_reviewed_at", Moment),
    # 0004: the goal's words as an enc:v1 token (GoalWording JSON) under the client's key; the
    # description, measure and target columns above are empty for goals agreed since.
    Column("wording", Text),
    Index("ix_goal_progress_client", "clinic_id", "client_id"),
)

# One row per homework, for a client's list (homework need not serve a goal).
client_homework = Table(
    "client_homework",
    metadata,
    Column("homework_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("counselor_id", Person, nullable=False),
    Column("goal_id", Uuid),
    Column("session_id", Uuid),
    # An enc:v1 token under the client's key since revision 0004 (in clear before).
    Column("instructions", Text, nullable=False),
    Column("due_at", Moment, nullable=False),
    Column("assigned_at", Moment, nullable=False),
    Column("completed_at", Moment),
    Column("on_time", Boolean),
    # 0002: kind, schedule and state. next_due_at is the earliest open occurrence (None once
    # none is left), which is what the missed-homework loop looks for.
    Column("type", String(32), nullable=False, server_default="other"),
    Column("recurrence", JSON),
    Column("reminder_lead_minutes", Integer),
    Column("next_due_at", Moment),
    Column("cancelled_at", Moment),
    Index("ix_client_homework_client", "clinic_id", "client_id", "due_at"),
    Index("ix_client_homework_next_due", "next_due_at"),
)

# Every event of a goal, in order, with what it changed: GET /goals/{id}/history, and the GAS
# levels of its reviews.
goal_history = Table(
    "goal_history",
    metadata,
    Column("goal_id", Uuid, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("clinic_id", Clinic, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("occurred_at", Moment, nullable=False),
    Column("actor", Person),
    Column("changes", JSON, nullable=False),
    Column("attained_level", Integer),
)

# One row per due occurrence of a homework, once it was completed or missed: adherence.
homework_outcomes = Table(
    "homework_outcomes",
    metadata,
    Column("homework_id", Uuid, primary_key=True),
    Column("due_at", Moment, primary_key=True),
    *clinic_and_client(),
    Column("goal_id", Uuid),
    Column("completed_at", Moment),
    Column("on_time", Boolean, nullable=False),
    Column("self_rating", Integer),
    Index("ix_homework_outcomes_client", "clinic_id", "client_id"),
    Index("ix_homework_outcomes_goal", "goal_id"),
)

# Standard measures a client completed (PHQ-9, GAD-7, ORS, SRS).
client_measures = Table(
    "client_measures",
    metadata,
    Column("measure_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("counselor_id", Person),
    Column("session_id", Uuid),
    Column("instrument", String(8), nullable=False),
    Column("items", JSON, nullable=False),
    Column("total", Integer, nullable=False),
    Column("band", String(32)),
    Column("recorded_at", Moment, nullable=False),
    Column("alliance_alert", Boolean, nullable=False),
    Index("ix_client_measures_client", "clinic_id", "client_id", "recorded_at"),
)

# 0011: risk flags a measure raised, open until acknowledged (risk-flag-raised, -acknowledged).
risk_flags = Table(
    "risk_flags",
    metadata,
    Column("flag_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("measure_id", Uuid, nullable=False),
    Column("instrument", String(8), nullable=False),
    Column("item", Integer, nullable=False),
    Column("score", Integer, nullable=False),
    Column("raised_at", Moment, nullable=False),
    Column("acknowledged_by", Person),
    Column("acknowledged_at", Moment),
    Index("ix_risk_flags_client", "clinic_id", "client_id"),
)

# 0011: every measure asked of a client (measure-requested) and how the ask ended
# (measure-ask-closed): status is open, fulfilled, missed or withdrawn.
measure_asks = Table(
    "measure_asks",
    metadata,
    Column("ask_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("instrument", String(8), nullable=False),
    Column("timing", String(16), nullable=False),
    Column("session_id", Uuid),
    Column("ask_at", Moment, nullable=False),
    Column("due_at", Moment, nullable=False),
    Column("deadline", Moment, nullable=False),
    Column("status", String(16), nullable=False),
    Column("closed_at", Moment),
    Column("measure_id", Uuid),
    Index("ix_measure_asks_client", "clinic_id", "client_id", "status"),
    # What the round looks for: open asks past their deadline.
    Index("ix_measure_asks_status_deadline", "status", "deadline"),
    Index("ix_measure_asks_session", "session_id"),
)

PROJECTION_TABLES = (
    goal_progress,
    client_homework,
    goal_history,
    homework_outcomes,
    client_measures,
    risk_flags,
    measure_asks,
)

# 0011, not projections (a rebuild leaves them alone):

# A clinic's risk settings (rapport_goals.domain.risk.RiskPolicy); no row: the defaults. A
# setting, not a clinical record: the audit log keeps who changed it and when.
risk_settings = Table(
    "risk_settings",
    metadata,
    Column("clinic_id", Clinic, primary_key=True),
    Column("threshold", Integer, nullable=False),
    Column("alert_care_team", Boolean, nullable=False),
    Column("admin_ids", JSON, nullable=False),
    Column("updated_by", Person, nullable=False),
    Column("updated_at", Moment, nullable=False),
)

# The clients with a measurement plan (whether it has every-n-days schedules), and how far the
# periodic round has asked for each: what a batch of closed sessions and the round look up
# without loading every plan's stream. The round moves asked_through itself.
measurement_plans = Table(
    "measurement_plans",
    metadata,
    Column("clinic_id", Clinic, primary_key=True),
    Column("client_id", Person, primary_key=True),
    Column("periodic", Boolean, nullable=False),
    Column("asked_through", Moment),
)
