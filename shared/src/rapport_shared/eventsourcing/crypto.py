"""Encryption of clinical free text: at rest under a per-client key, and sealed for the bus.

At rest: each client has a data key (AES-256-GCM) in the service's own `client_keys` table. The
free-text fields of a service's private events (EventContract.encrypted_fields) are stored as
`enc:v1:<base64url(nonce | ciphertext | tag)>` strings, so the event log stays plain JSON and a
projection can copy a token into its tables without reading it; views and aggregates decrypt
when they read. Erasing a client destroys its key (crypto-shredding): every token of that client,
in the log, the projections or a backup, becomes unreadable, and reads see the words as erased
(an empty string) while ids, dates and scores keep working.

For the bus: the plan wording of session-closed is sealed (`seal:v1:...`) under one suite key
shared by the sessions and goals services only (RAPPORT_PLAN_SEAL_KEY, or a key generated once
under <data dir>/plan-seal-key). Integrators and the notifications service cannot open it.

The client's clinic and id are the associated data of every token, so a token copied onto
another client's record does not decrypt.
"""

import base64
import functools
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import InvalidState
from rapport_shared.contracts.plan import AgreedGoal, AgreedHomework, PlanWording, split
from rapport_shared.persistence.driver_sql import one_of, rows_among, rows_on_driver
from rapport_shared.persistence.upserts import insert_if_absent

ENCRYPTED_PREFIX = "enc:v1:"
SEALED_PREFIX = "seal:v1:"
# What an erased client's words read as.
ERASED = ""
KEY_BYTES = 32
_NONCE_BYTES = 12
SEAL_KEY_FILE = "plan-seal-key"

metadata = MetaData()


# One row per client ever given a key. Erasure sets key to NULL and stamps erased_at: the row
# stays as a tombstone, so the client's later events are not projected again and no new key is
# made for them.
def client_keys_columns() -> list[Column[Any]]:
    """client_keys' columns, fresh each call: the table below, and each service's migration."""
    return [
        Column("clinic_id", String(63), primary_key=True),
        Column("client_id", String(64), primary_key=True),
        Column("key", LargeBinary(KEY_BYTES)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("erased_at", DateTime(timezone=True)),
    ]


client_keys = Table("client_keys", metadata, *client_keys_columns())


class CryptoError(Exception):
    """A token that does not open with the key it should: tampered with, or the wrong key."""


class ClientErasedError(InvalidState):
    """The client was erased: nothing new may be written for them."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def _encrypt(key: bytes, prefix: str, plaintext: str, aad: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return prefix + _b64(nonce + AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), aad))


def _decrypt(key: bytes, prefix: str, token: str, aad: bytes) -> str:
    raw = _unb64(token.removeprefix(prefix))
    try:
        plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad)
    except InvalidTag:
        raise CryptoError(f"a {prefix} token does not open with this key") from None
    return plain.decode("utf-8")


def seal_bytes(key: bytes, aad: bytes, data: bytes) -> bytes:
    """data encrypted (nonce | ciphertext | tag) for a binary column: a stored response."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, aad)


def open_bytes(key: bytes, aad: bytes, sealed: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
    except InvalidTag:
        raise CryptoError("sealed bytes that do not open with this key") from None


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX)


def _client_aad(clinic_id: str, client_id: str) -> bytes:
    return f"rapport-client:{clinic_id}:{client_id}".encode()


def encrypt_text(key: bytes, clinic_id: str, client_id: str, plaintext: str) -> str:
    return _encrypt(key, ENCRYPTED_PREFIX, plaintext, _client_aad(clinic_id, client_id))


def decrypt_text(key: bytes | None, clinic_id: str, client_id: str, value: str) -> str:
    """A token's plaintext; ERASED when the key is gone. A value that is not a token is text
    stored before encryption existed and comes back as it is."""
    if not is_encrypted(value):
        return value
    if key is None:
        return ERASED
    return _decrypt(key, ENCRYPTED_PREFIX, value, _client_aad(clinic_id, client_id))


# --- the suite's plan-seal key -------------------------------------------------------------

_SEAL_AAD = b"rapport-plan-wording"


def seal(key: bytes, plaintext: str) -> str:
    return _encrypt(key, SEALED_PREFIX, plaintext, _SEAL_AAD)


def unseal(key: bytes, token: str) -> str:
    if not token.startswith(SEALED_PREFIX):
        raise CryptoError("not a sealed value")
    return _decrypt(key, SEALED_PREFIX, token, _SEAL_AAD)


def seal_wording(key: bytes, wording: PlanWording) -> str:
    return seal(key, wording.model_dump_json())


def unseal_wording(key: bytes, sealed: str | None) -> PlanWording:
    """None (a v1 session-closed, whose words were dropped) gives empty words."""
    if sealed is None:
        return PlanWording()
    return PlanWording.model_validate_json(unseal(key, sealed))


def closing_plan(
    goals: Sequence[AgreedGoal], homework: Sequence[AgreedHomework], seal_key: bytes
) -> dict[str, Any]:
    """session-closed's plan fields for a worded plan: its structure and its sealed words."""
    planned_goals, planned_homework, wording = split(goals, homework)
    return {
        "goals": planned_goals,
        "homework": planned_homework,
        "sealed_wording": seal_wording(seal_key, wording),
    }


def plan_seal_key(configured: str | None, data_dir: str) -> bytes:
    """The configured key (URL-safe base64 of 32 bytes), or else the one under data_dir,
    generated on first use with owner-only permissions (the embedded default)."""
    if configured:
        return _checked_key(_unb64(configured.strip()), "RAPPORT_PLAN_SEAL_KEY")
    path = Path(data_dir) / SEAL_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a private name, then linked into place: of two services starting
        # at once, one key wins and neither ever reads a half-written file.
        draft = path.with_name(f".{SEAL_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(_b64(secrets.token_bytes(KEY_BYTES)) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return _checked_key(_unb64(path.read_text().strip()), str(path))


def _checked_key(key: bytes, source: str) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError(f"{source} must be {KEY_BYTES} bytes in URL-safe base64")
    return key


# --- per-client keys -----------------------------------------------------------------------


class KeyRing:
    """The per-client keys of one service's database, used on the caller's connection so a
    key made for a write commits (or rolls back) with it."""

    async def key(
        self, conn: AsyncConnection, clinic_id: str, client_id: str, *, create: bool = False
    ) -> bytes | None:
        """The client's key; with create, made on first use. None once the client is erased
        (and, without create, for a client who never had one)."""
        row = await self._row(conn, clinic_id, client_id)
        if row is None and create:
            key = secrets.token_bytes(KEY_BYTES)
            new = {
                "clinic_id": clinic_id,
                "client_id": client_id,
                "key": key,
                "created_at": datetime.now().astimezone(),
            }
            # Compiled once and run on the driver, as _row is: a client's first encrypted event
            # (every plan of a new client) paid for building the insert and reading it back.
            # Two writers may make the first key at once: the first one's is kept, so the one
            # that lost reads it.
            if await insert_if_absent(conn, client_keys, new):
                row = _KeyRow(key, None)
            else:
                row = await self._row(conn, clinic_id, client_id)
        if row is not None and row.erased_at is not None and create:
            raise ClientErasedError(f"client {client_id} was erased", field="client_id")
        return None if row is None else row.key

    async def is_erased(self, conn: AsyncConnection, clinic_id: str, client_id: str) -> bool:
        row = await self._row(conn, clinic_id, client_id)
        return row is not None and row.erased_at is not None

    async def erased_among(
        self, conn: AsyncConnection, owners: Iterable[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which of these (clinic id, client id) pairs are erased clients, in one query."""
        # Per clinic, so the lookup walks the (clinic_id, client_id) key instead of the table.
        by_clinic: dict[str, set[str]] = {}
        for clinic, client in owners:
            by_clinic.setdefault(clinic, set()).add(client)
        found: set[tuple[str, str]] = set()
        for clinic, clients in by_clinic.items():
            rows = await rows_among(conn, _erased, sorted(clients), {"clinic_id": clinic})
            found |= {(clinic, client) for (client,) in rows}
        return found

    async def destroy(
        self, conn: AsyncConnection, clinic_id: str, client_id: str, at: datetime
    ) -> None:
        """Crypto-shredding: the key is gone, the row stays as the client's tombstone."""
        tombstone = {
            "clinic_id": clinic_id,
            "client_id": client_id,
            "key": None,
            "created_at": at,
            "erased_at": at,
        }
        await insert_if_absent(conn, client_keys, tombstone)
        await conn.execute(
            update(client_keys)
            .where(client_keys.c.clinic_id == clinic_id, client_keys.c.client_id == client_id)
            .values(key=None, erased_at=at)
        )

    async def encrypt_event(self, conn: AsyncConnection, event: EventContract) -> EventContract:
        """The event with its free-text fields encrypted (events with none come back as they
        are). Refused for an erased client."""
        if not event.encrypted_fields:
            return event
        clinic_id, client_id = _owner(event)
        key = await self.key(conn, clinic_id, client_id, create=True)
        assert key is not None  # create=True makes one or raises
        return event.model_copy(
            update={
                name: _map_text(
                    getattr(event, name), lambda t: encrypt_text(key, clinic_id, client_id, t)
                )
                for name in event.encrypted_fields
            }
        )

    async def decrypt_event(self, conn: AsyncConnection, event: EventContract) -> EventContract:
        """The event with its free text readable again; an erased client's reads as ERASED."""
        return (await self.decrypt_events(conn, [event]))[0]

    async def decrypt_events(
        self, conn: AsyncConnection, events: Iterable[EventContract]
    ) -> list[EventContract]:
        """decrypt_event for each, each client's key looked up once (a stream's notes and
        addenda are all one client's)."""
        keys: dict[tuple[str, str], bytes | None] = {}
        decrypted = []
        for event in events:
            if not event.encrypted_fields or not getattr(event, "client_id", None):
                decrypted.append(event)  # stored before encryption existed: its text is in clear
                continue
            owner = _owner(event)
            if owner not in keys:
                keys[owner] = await self.key(conn, *owner)
            decrypted.append(_decrypted(event, keys[owner], *owner))
        return decrypted

    async def decrypt(
        self, conn: AsyncConnection, clinic_id: str, client_id: str, value: str | None
    ) -> str | None:
        """One stored value (a projection's copy of a token) read back."""
        if value is None or not is_encrypted(value):
            return value
        return decrypt_text(await self.key(conn, clinic_id, client_id), clinic_id, client_id, value)

    async def _row(self, conn: AsyncConnection, clinic_id: str, client_id: str) -> "_KeyRow | None":
        # Compiled once and run on the driver (projection.rows_on_driver): every encrypted
        # write looks its key up, and through SQLAlchemy's execution layer the lookup cost
        # several times the query. The row comes back unprocessed: the key is bytes
        # on both drivers, and of erased_at only its presence is read.
        owner = {"clinic_id": clinic_id, "client_id": client_id}
        rows = await rows_on_driver(conn, _KEY_ROW, owner)
        return _KeyRow(*rows[0]) if rows else None


# Built once (looked up for every encrypted write and every event a projection applies):
# building the select per call was half of the lookup.
_KEY_ROW = select(client_keys.c.key, client_keys.c.erased_at).where(
    client_keys.c.clinic_id == bindparam("clinic_id"),
    client_keys.c.client_id == bindparam("client_id"),
)


class _KeyRow(NamedTuple):
    key: bytes | None
    erased_at: object  # None unless erased (as the driver gives it: text on SQLite)


@functools.cache
def _erased(count: int) -> Any:
    return select(client_keys.c.client_id).where(
        client_keys.c.clinic_id == bindparam("clinic_id"),
        one_of(client_keys.c.client_id, count),
        client_keys.c.erased_at.is_not(None),
    )


def _decrypted(
    event: EventContract, key: bytes | None, clinic_id: str, client_id: str
) -> EventContract:
    return event.model_copy(
        update={
            name: _map_text(
                getattr(event, name), lambda t: decrypt_text(key, clinic_id, client_id, t)
            )
            for name in event.encrypted_fields
        }
    )


def _owner(event: EventContract) -> tuple[str, str]:
    client_id = getattr(event, "client_id", None)
    if not client_id:
        raise ValueError(f"{event.event_type} has encrypted fields but names no client")
    return event.clinic_id, client_id


def _map_text(value: Any, convert: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, Mapping):
        return {name: convert(text) for name, text in value.items()}
    if isinstance(value, tuple | list):
        return tuple(convert(text) for text in value)
    raise TypeError(f"cannot encrypt a {type(value).__name__}")
