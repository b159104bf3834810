"""The table's schema steps, called from each service's migrations (alembic's op is bound
there, so it is imported only when a step runs)."""

from sqlalchemy import MetaData, Table

from rapport_shared.web.idempotency.table import (
    TABLE_NAME,
    client_column,
    columns_v1,
    idempotency_keys,
)


def create_idempotency_table_v1() -> None:
    """For each service's migration that adds the table."""
    from alembic import op

    Table(TABLE_NAME, MetaData(), *columns_v1()).create(op.get_bind())


def seal_stored_answers_v2() -> None:
    """Each service's migration to sealed answers: the client column, and the answers stored
    in clear before it dropped (which client they concern is not known; a retry of one of
    them runs its command again, which a caller-chosen id still makes safe)."""
    from alembic import op

    op.execute(idempotency_keys.delete())
    op.add_column(TABLE_NAME, client_column())


def unseal_stored_answers_v2() -> None:
    from alembic import op

    op.execute(idempotency_keys.delete())  # sealed bodies mean nothing to the older code
    with op.batch_alter_table(TABLE_NAME) as table:
        table.drop_column("client_id")


def drop_idempotency_table_v1() -> None:
    from alembic import op

    op.drop_table(TABLE_NAME)
