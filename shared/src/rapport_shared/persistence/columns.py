"""What the tables of every service name the same way: a clinic, a person, a moment, and the
clinic and client a row belongs to. One declaration each, so that a clinic id is as wide in a
projection as in the event store, and no timestamp is ever stored without its time zone.

The types are shared instances (SQLAlchemy types hold no per-column state); columns are made
fresh on each call, since a Column belongs to one table.
"""

from sqlalchemy import Column, DateTime, String

# A clinic id is a slug of at most 63 characters (rapport_shared.contracts.clinic.ClinicId).
Clinic = String(63)
# A client's, counselor's or caller's id: at most 64 characters (contracts.base.PersonId).
Person = String(64)
# Every timestamp is aware: a timestamptz on PostgreSQL; on SQLite, text in UTC
# (persistence.db.sqlite_time reads it back).
Moment = DateTime(timezone=True)


def clinic_and_client() -> tuple[Column[str], Column[str]]:
    """The owner of a client's row: what a client's views and an erasure select by."""
    return (
        Column("clinic_id", Clinic, nullable=False),
        Column("client_id", Person, nullable=False),
    )
