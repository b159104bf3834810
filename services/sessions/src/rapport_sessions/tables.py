"""The notes projection: per client, their sessions and the goals and homework agreed in them.

Homework rows may exist before their assignment is known (a completion can arrive first); such
rows have no session_id yet and stay out of every view until the assignment fills them in.
"""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from rapport_shared.persistence.columns import Moment, Person, clinic_and_client

metadata = MetaData()

notes_sessions = Table(
    "notes_sessions",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("counselor_id", Person, nullable=False),
    Column("starts_at", Moment, nullable=False),
    Column("status", String(20), nullable=False),
    Column("closed_at", Moment),
    Column("next_session_at", Moment),
    Column("has_note", Boolean, nullable=False),
    Index("ix_notes_sessions_client", "clinic_id", "client_id", "starts_at"),
)

notes_goals = Table(
    "notes_goals",
    metadata,
    Column("goal_id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    *clinic_and_client(),
    # An enc:v1 token of the goal's words (rapport_shared.contracts.plan.GoalWording as JSON), ""
    # until plan-worded fills it in (revision 0004; before, the description in clear).
    Column("description", Text, nullable=False),
    Column("due_date", Date, nullable=False),
    Index("ix_notes_goals_session", "session_id"),
)

notes_homework = Table(
    "notes_homework",
    metadata,
    Column("homework_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("session_id", Uuid),
    Column("goal_id", Uuid),
    # An enc:v1 token of the instructions (revision 0004; before, in clear).
    Column("instructions", Text),
    Column("due_at", Moment),
    Column("completed_at", Moment),
    Index("ix_notes_homework_session", "session_id"),
)

# The prep-brief projection (revision 0002). Goal facts are kept as a log, one row per fact
# (agreed, revised, status, reviewed) keyed by the goal, the kind and its time: inserting a
# redelivered fact changes nothing and the order of arrival does not matter, because the view
# folds them in time order (domain/prep.py).
prep_goal_facts = Table(
    "prep_goal_facts",
    metadata,
    Column("goal_id", Uuid, primary_key=True),
    Column("kind", String(10), primary_key=True),
    Column("at", Moment, primary_key=True),
    *clinic_and_client(),
    Column("description", String(2000)),
    Column("target", String(2000)),
    Column("due_date", Date),
    Column("lifecycle_status", String(20)),
    Column("achievement_status", String(20)),
    Column("gas_level", Integer),
    Index("ix_prep_goal_facts_client", "clinic_id", "client_id"),
)

# An assignment and its cancellation touch disjoint columns, so either may arrive first.
prep_homework = Table(
    "prep_homework",
    metadata,
    Column("homework_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("goal_id", Uuid),
    Column("instructions", String(2000)),
    Column("due_at", Moment),
    Column("cancelled_at", Moment),
    Index("ix_prep_homework_client", "clinic_id", "client_id"),
)

# One row per occurrence and outcome ("done" or "missed"): a late completion of a missed
# occurrence keeps both facts, and the view counts it as done.
prep_homework_outcomes = Table(
    "prep_homework_outcomes",
    metadata,
    Column("homework_id", Uuid, primary_key=True),
    Column("due_at", Moment, primary_key=True),
    Column("outcome", String(10), primary_key=True),
    *clinic_and_client(),
    Column("goal_id", Uuid),
    Column("at", Moment, nullable=False),
    Column("self_rating", Integer),
    Index("ix_prep_homework_outcomes_client", "clinic_id", "client_id", "at"),
)

prep_measures = Table(
    "prep_measures",
    metadata,
    Column("measure_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("instrument", String(10), nullable=False),
    Column("total", Integer, nullable=False),
    Column("band", String(100)),
    Column("recorded_at", Moment, nullable=False),
    Index("ix_prep_measures_client", "clinic_id", "client_id", "recorded_at"),
)

prep_alliance_alerts = Table(
    "prep_alliance_alerts",
    metadata,
    Column("alert_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("srs_total", Integer, nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("raised_at", Moment, nullable=False),
    Index("ix_prep_alliance_alerts_client", "clinic_id", "client_id", "raised_at"),
)

# The plan items the goals service could not apply (plan-item-refused, revision
# 0009_plan_refusals), keyed by the id the item would have had: the notes view shows them as
# refused instead of created.
plan_refusals = Table(
    "plan_refusals",
    metadata,
    Column("item_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("session_id", Uuid, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("item_index", Integer, nullable=False),
    Column("reason", String(40), nullable=False),
    Column("field", String(200), nullable=False),
    Column("refused_at", Moment, nullable=False),
    Index("ix_plan_refusals_session", "session_id"),
    Index("ix_plan_refusals_client", "clinic_id", "client_id"),
)

# Revision 0011_risk_flags_measure_asks: what the brief says of risk flags and of measures
# asked for (of the safety plan, it reads the plan's own stream). A risk flag and its
# acknowledgement write disjoint columns, so either may arrive first; a flag is shown once raised
# (instrument set) and until acknowledged.
prep_risk_flags = Table(
    "prep_risk_flags",
    metadata,
    Column("flag_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("measure_id", Uuid),
    Column("instrument", String(10)),
    Column("item", Integer),
    Column("score", Integer),
    Column("threshold", Integer),
    Column("raised_at", Moment),
    Column("acknowledged_by", Person),
    Column("acknowledged_at", Moment),
    Index("ix_prep_risk_flags_client", "clinic_id", "client_id"),
)

# A measure asked for (measure-requested) and how the ask ended (measure-ask-closed): disjoint
# columns again; both events name the instrument.
prep_measure_asks = Table(
    "prep_measure_asks",
    metadata,
    Column("ask_id", Uuid, primary_key=True),
    *clinic_and_client(),
    Column("instrument", String(10), nullable=False),
    Column("timing", String(20)),
    Column("session_id", Uuid),
    Column("ask_at", Moment),
    Column("due_at", Moment),
    Column("deadline", Moment),
    Column("outcome", String(10)),
    Column("measure_id", Uuid),
    Column("closed_at", Moment),
    Index("ix_prep_measure_asks_client", "clinic_id", "client_id"),
)

PREP_TABLES = (
    prep_goal_facts,
    prep_homework,
    prep_homework_outcomes,
    prep_measures,
    prep_alliance_alerts,
    plan_refusals,
    prep_risk_flags,
    prep_measure_asks,
)
PROJECTION_TABLES = (notes_sessions, notes_goals, notes_homework, *PREP_TABLES)
