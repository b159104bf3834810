"""Instants in the read model. SQLite keeps no offset, so every instant is stored in UTC and a
naive one read back is UTC."""

from datetime import UTC, datetime


def to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
