"""Tables every service has: its event store, outbox, consumer bookkeeping and dead letters.

Services declare their projection tables on a MetaData of their own.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from rapport_shared.persistence.columns import Clinic, Moment, Person

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Position = BigInteger().with_variant(Integer(), "sqlite")


def add_core_tables(metadata: MetaData) -> dict[str, Table]:
    events = Table(
        "events",
        metadata,
        Column("position", Position, primary_key=True, autoincrement=True),
        # Unique by construction (a UUID4 made by the append itself) and never looked up: a
        # unique index on it cost every SQLite append a quarter of its time (migration 0007).
        Column("event_id", String(36), nullable=False),
        Column("stream_id", String(200), nullable=False),
        Column("version", Integer, nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("schema_version", Integer, nullable=False),
        Column("clinic_id", Clinic, nullable=False),
        Column("occurred_at", Moment, nullable=False),
        Column("data", JSON, nullable=False),
        Column("metadata", JSON, nullable=False),
        UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
    )
    # The messages waiting to be published: on PostgreSQL every public event's; on SQLite only
    # those the events table cannot give back (a bus copy with transport-only fields).
    outbox = Table(
        "outbox",
        metadata,
        Column("position", Position, primary_key=True),
        Column("subject", String(300), nullable=False),
        Column("headers", JSON, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", Moment, nullable=False),
    )
    # One row: how far the relay has read the events table, which on SQLite is the outbox itself
    # (see rapport_shared.messaging.outbox). Unused on PostgreSQL, whose relays claim outbox rows
    # instead.
    outbox_cursor = Table(
        "outbox_cursor",
        metadata,
        Column("id", Integer, primary_key=True),  # always 1
        Column("position", BigInteger, nullable=False),
    )
    # Events the broker refused for good (too large, ...), set aside by the relay with the
    # reason so that the events after them still go out (see rapport_shared.messaging.quarantine).
    # The message is kept as it was to be published, its Nats-Msg-Id included, for a replay.
    outbox_quarantine = Table(
        "outbox_quarantine",
        metadata,
        Column("position", BigInteger, primary_key=True),  # the event's, in the events table
        Column("event_id", String(100)),
        Column("subject", String(300), nullable=False),
        Column("headers", JSON, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("reason", Text, nullable=False),
        Column("quarantined_at", Moment, nullable=False),
    )
    checkpoints = Table(
        "consumer_checkpoints",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("stream_sequence", BigInteger, nullable=False),
        Column("updated_at", Moment, nullable=False),
    )
    processed = Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(100), primary_key=True),
        Column("processed_at", Moment, nullable=False),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", Position, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("stream_sequence", BigInteger, nullable=False),
        Column("subject", String(300), nullable=False),
        Column("event_id", String(100)),
        Column("headers", JSON, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("deliveries", Integer, nullable=False),
        Column("dead_at", Moment, nullable=False),
    )
    return {
        "events": events,
        "outbox": outbox,
        "outbox_cursor": outbox_cursor,
        "outbox_quarantine": outbox_quarantine,
        "consumer_checkpoints": checkpoints,
        "processed_events": processed,
        "dead_letters": dead_letters,
    }


def add_access_tables(metadata: MetaData) -> dict[str, Table]:
    """What authorization and audit need in every service (migration 0003 of each)."""
    audit_log = Table(
        "audit_log",
        metadata,
        Column("id", Position, primary_key=True, autoincrement=True),
        Column("at", Moment, nullable=False),
        # The caller's clinic: whose auditors see the entry. A probe at another clinic's path
        # lands here, in the prober's clinic, naming the clinic it aimed at.
        Column("clinic_id", Clinic, nullable=False),
        Column("target_clinic_id", Clinic, nullable=False),
        Column("sub", Person, nullable=False),
        Column("role", String(20), nullable=False),
        Column("method", String(10), nullable=False),
        Column("route", String(200), nullable=False),
        Column("resource", JSON, nullable=False),
        Column("client_id", Person),
        Column("client_address", String(64)),
        Column("status", Integer, nullable=False),
        Column("correlation_id", String(100)),
    )
    Index("ix_audit_log_clinic", audit_log.c.clinic_id, audit_log.c.id)
    Index("ix_audit_log_client", audit_log.c.clinic_id, audit_log.c.client_id, audit_log.c.id)
    care_team = Table(
        "care_team",
        metadata,
        Column("clinic_id", Clinic, primary_key=True),
        Column("client_id", Person, primary_key=True),
        Column("counselor_id", Person, primary_key=True),
    )
    return {"audit_log": audit_log, "care_team": care_team}


metadata = MetaData()
_core = add_core_tables(metadata)
_access = add_access_tables(metadata)
audit_log_table = _access["audit_log"]
care_team_table = _access["care_team"]
events_table = _core["events"]
outbox_table = _core["outbox"]
outbox_cursor_table = _core["outbox_cursor"]
outbox_quarantine_table = _core["outbox_quarantine"]
checkpoints_table = _core["consumer_checkpoints"]
processed_table = _core["processed_events"]
dead_letters_table = _core["dead_letters"]
