"""The client_keys table's schema steps, called from each service's migrations (the other shared
tables' steps: rapport_shared.persistence.shared_migrations, which lists the order every chain
runs them in)."""

from alembic import op

from rapport_shared.eventsourcing.crypto import client_keys, client_keys_columns


def create_client_keys_table() -> None:
    """Per-client data keys: erasing a client is destroying their key (crypto)."""
    op.create_table(client_keys.name, *client_keys_columns())


def drop_client_keys_table() -> None:
    op.drop_table(client_keys.name)
