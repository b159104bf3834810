"""What a service's migrations/env.py needs: its database (from its settings) and its tables
with the shared ones every service has, for Alembic's command line and `revision --autogenerate`.
"""

from sqlalchemy import MetaData

from rapport_shared.eventsourcing.crypto import client_keys
from rapport_shared.persistence import schema
from rapport_shared.persistence.migrations import run_env
from rapport_shared.runtime.settings import ServiceSettings
from rapport_shared.web.idempotency.table import idempotency_keys

# The event store, outbox, consumer and access tables, the Idempotency-Key store and the
# per-client keys: every service's migrations create them all.
SHARED_TABLES = (schema.metadata, idempotency_keys.metadata, client_keys.metadata)


def run_service_env(service: str, settings: type[ServiceSettings], tables: MetaData) -> None:
    """Settings are read only when the command line opens the database itself (at start-up the
    service hands over its connection): RAPPORT_<SERVICE>_DATABASE_URL, or SQLite under the
    data dir."""
    run_env(lambda: settings().resolved_database_url(service), [tables, *SHARED_TABLES])
