"""Stored answers at rest: their bodies hold clinical words, so they are sealed under the key of
the client the request concerned, or the service's own key when none was known."""

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.eventsourcing.crypto import (
    ClientErasedError,
    CryptoError,
    KeyRing,
    open_bytes,
    seal_bytes,
)

log = structlog.get_logger(__name__)

# The client_keys row whose key seals answers that concern no known client. "*" is no clinic's
# slug, so no erasure can reach it.
SERVICE_KEY_OWNER = ("*", "stored-answers")


def _aad(clinic_id: str, client_id: str | None) -> bytes:
    return f"rapport-stored-answer:{clinic_id}:{client_id or ''}".encode()


def _key_owner(clinic_id: str, client_id: str | None) -> tuple[str, str]:
    return (clinic_id, client_id) if client_id else SERVICE_KEY_OWNER


async def seal_answer(
    keys: KeyRing, conn: AsyncConnection, clinic_id: str, client_id: str | None, body: bytes
) -> bytes | None:
    """The body sealed; None when the client was erased while the request ran."""
    try:
        key = await keys.key(conn, *_key_owner(clinic_id, client_id), create=True)
    except ClientErasedError:
        return None  # nothing of theirs is kept
    assert key is not None  # create=True makes one or raises
    return seal_bytes(key, _aad(clinic_id, client_id), body)


async def open_answer(
    keys: KeyRing, conn: AsyncConnection, clinic_id: str, client_id: str | None, sealed: bytes
) -> bytes | None:
    """The body readable again; None when its words are gone (the client erased)."""
    key = await keys.key(conn, *_key_owner(clinic_id, client_id))
    if key is None:
        return None  # the client's key was destroyed: crypto-shredded
    try:
        return open_bytes(key, _aad(clinic_id, client_id), sealed)
    except CryptoError:
        log.warning("a stored answer does not open", clinic_id=clinic_id)
        return None
