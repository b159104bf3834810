"""The idempotency_keys table, in each service's own database. It stays with the store rather
than in rapport_shared.persistence: only the store and its migration steps touch it, and its
key column is as wide as the header's syntax allows."""

from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, LargeBinary, MetaData, String, Table

from rapport_shared.web.idempotency.keys import MAX_KEY_LENGTH

TABLE_NAME = "idempotency_keys"


def columns_v1() -> list[Column[Any]]:
    return [
        Column("clinic_id", String(63), primary_key=True),
        Column("caller", String(200), primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        # Who holds an unfinished claim: only they may release or complete it.
        Column("claim_id", String(36), nullable=False),
        Column("claimed_at", DateTime(timezone=True), nullable=False),
        # Null while the first request is still running.
        Column("status", Integer),
        Column("headers", JSON),
        # Sealed (crypto.seal_bytes) under client_id's key, or the service's when that is null.
        Column("body", LargeBinary),
    ]


def client_column() -> Column[Any]:
    # The client the request concerned, as its authorization named them.
    return Column("client_id", String(64))


def add_idempotency_table(metadata: MetaData) -> Table:
    return Table(TABLE_NAME, metadata, *columns_v1(), client_column())


idempotency_keys = add_idempotency_table(MetaData())
