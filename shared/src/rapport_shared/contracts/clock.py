"""Time, one way everywhere: every instant the services decide on, store or show is in UTC.

Handlers never read the clock: their caller (a route, a consumer's handler, a background loop)
reads it once with utc_now() and passes it in, so one command sees one "now" and tests choose it.
SQLite keeps no offset, so what it hands back is naive and was written in UTC: to_utc reads it so.
"""

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive one (SQLite's) is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
