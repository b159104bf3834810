"""The schema steps of the tables every service has, written once: each service's migration
chain runs them, and each step's revision there is a single call to one of these functions.

Every service's database holds the shared tables (schema: the event store, outbox, consumer
bookkeeping and dead letters, audit log and care team; beside them the per-client keys and the
Idempotency-Key store), and every service's chain runs each of these steps once, in this order
(but for notifications' client keys, which came with its 0010):

    create_core_tables_v1         the event store, outbox and consumer tables (each 0001)
    create_access_tables_v1       audit log and care team (each 0003_auth)
    create_client_keys_table      per-client keys (sessions' and goals' 0004, notifications' 0010)
    create_idempotency_table_v1   the Idempotency-Key store (each 0005)
    drop_events_clinic_time_index (each 0006)
    fold_outbox_into_log          (each 0007)
    create_outbox_quarantine_table (sessions' and goals' 0008, notifications' 0009)
    seal_stored_answers_v2        (each 0010_sealed_answers)

The client keys' and Idempotency-Key store's steps live beside their tables
(eventsourcing.client_keys_migrations, web.idempotency.migrations), which this group may not
import.

Why a revision per service for each shared step, and not one shared Alembic branch (a version
location of its own that the services' chains would name in depends_on): the databases in use
record their chain's revision ids in alembic_version, and a shared step sits at a different
place, and under a different id, in each chain (notifications' 0003_auth follows 0001, the
others' 0002; its client keys came with 0010). A shared branch would mean new revision ids, a
second head in every database and a rewrite of its alembic_version, for DDL that is already
written once here. So the ids and positions stay, and only the calls repeat.

Steps that differ by database branch on the dialect here, the only group that may (as does
migrations.widen_to_text, for the services' own tables).
"""

from alembic import op
from sqlalchemy import MetaData, text

from rapport_shared.persistence.schema import add_access_tables, add_core_tables


def create_core_tables_v1() -> None:
    """The event store, outbox and consumer tables, as first released."""
    core = MetaData()
    tables = add_core_tables(core)
    core.remove(tables["outbox_cursor"])  # fold_outbox_into_log's
    core.remove(tables["outbox_quarantine"])  # create_outbox_quarantine_table's
    core.create_all(op.get_bind())
    create_events_clinic_time_index()
    create_events_event_id_index()


def drop_core_tables() -> None:
    """Back to an empty database: every core table still there (the later steps' downgrades have
    dropped theirs already)."""
    core = MetaData()
    add_core_tables(core)
    core.drop_all(op.get_bind())


def create_events_event_id_index() -> None:
    op.create_index("uq_events_event_id", "events", ["event_id"], unique=True)


def create_events_clinic_time_index() -> None:
    op.create_index("ix_events_clinic_time", "events", ["clinic_id", "occurred_at"])


def drop_events_clinic_time_index() -> None:
    """No query ever used it (events are read by stream or by position), and every append paid
    for it: one more page written per commit, a sixth of a SQLite append."""
    op.drop_index("ix_events_clinic_time", table_name="events")


def fold_outbox_into_log() -> None:
    """Migration 0007: no unique index on event_id, and on SQLite the events table becomes the
    outbox (rapport_shared.messaging.outbox says why).

    SQLite cannot drop the unique constraint that databases created before this carry inside
    their CREATE TABLE, so there the events table is copied into a new one. The relay starts
    from the oldest event still waiting in the outbox: events between it and the newest that
    had gone out already go out again, and JetStream's duplicate window and the consumers'
    event-id check drop them."""
    bind = op.get_bind()
    core = MetaData()
    tables = add_core_tables(core)
    if bind.dialect.name == "sqlite":
        op.execute("ALTER TABLE events RENAME TO events_before_0007")
        tables["events"].create(bind)
        columns = ", ".join(column.name for column in tables["events"].columns)
        op.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM events_before_0007")
        op.execute("DROP TABLE events_before_0007")
    else:
        op.execute("ALTER TABLE events DROP CONSTRAINT IF EXISTS events_event_id_key")
        op.execute("DROP INDEX IF EXISTS uq_events_event_id")
    tables["outbox_cursor"].create(bind)
    op.execute(
        "INSERT INTO outbox_cursor (id, position) SELECT 1, COALESCE("
        "(SELECT MIN(position) - 1 FROM outbox), (SELECT MAX(position) FROM events), 0)"
    )


def unfold_outbox_from_log() -> None:
    """Back to 0006: possible only once every event in the SQLite log has gone out (0006 would
    not know the rest are waiting)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        waiting = bind.execute(
            text(
                "SELECT COUNT(*) FROM events WHERE position > (SELECT position FROM outbox_cursor)"
            )
        ).scalar_one()
        if waiting:
            raise RuntimeError(f"{waiting} events wait to be published: start the service first")
    op.drop_table("outbox_cursor")
    create_events_event_id_index()


def create_outbox_quarantine_table() -> None:
    """Migration <n>_outbox_quarantine: where the relay sets aside an event the broker refuses
    for good (rapport_shared.messaging.quarantine)."""
    add_core_tables(MetaData())["outbox_quarantine"].create(op.get_bind())


def drop_outbox_quarantine_table() -> None:
    op.drop_table("outbox_quarantine")


# The audit log is append-only below the API too: the database itself refuses to change or
# remove an entry, whatever code (or person with a SQL prompt and the service's login) asks.
_APPEND_ONLY_SQLITE = [
    f"""CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"""
    for verb in ("UPDATE", "DELETE")
]
_APPEND_ONLY_POSTGRES = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def create_access_tables_v1() -> None:
    """The audit log (append-only, enforced by triggers) and the care-team projection."""
    access = MetaData()
    add_access_tables(access)
    bind = op.get_bind()
    access.create_all(bind)
    postgres = bind.dialect.name == "postgresql"
    for statement in _APPEND_ONLY_POSTGRES if postgres else _APPEND_ONLY_SQLITE:
        op.execute(statement)


def drop_access_tables_v1() -> None:
    bind = op.get_bind()
    access = MetaData()
    add_access_tables(access)
    access.drop_all(bind)
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
