"""A client's erasure, the same in every service (docs/privacy.md): crypto-shredding through the
service's key ring. Whether a client is erased is read from the same place everywhere, the key
ring's tombstone (`KeyRing.is_erased`, `KeyRing.erased_among`)."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.persistence.db import erase_on_commit
from rapport_shared.web.idempotency.store import forget_client


async def shred(
    conn: AsyncConnection, keys: KeyRing, clinic_id: str, client_id: str, at: datetime
) -> None:
    """In the erasure's transaction: the client's key is destroyed (its row stays as their
    tombstone, so nothing new is written or projected for them), the answers kept for their
    Idempotency-Key replays lose their bodies, and once the transaction commits the database
    files are scrubbed of the old pages (db.erase_on_commit). The service's own rows about the
    client are its own to delete, in the same transaction."""
    await keys.destroy(conn, clinic_id, client_id, at)
    await forget_client(conn, clinic_id, client_id)
    erase_on_commit(conn)
