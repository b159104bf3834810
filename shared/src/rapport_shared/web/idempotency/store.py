"""The store of keys: a claim before the command runs, its answer (sealed) after, the release of
a failed one, and expiry."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.eventsourcing.crypto import KeyRing
from rapport_shared.web.idempotency.sealing import open_answer, seal_answer
from rapport_shared.web.idempotency.table import idempotency_keys

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Stored:
    """A completed key's answer as it rests: the body sealed, or None once its client's words
    were erased."""

    clinic_id: str
    client_id: str | None
    status: int
    headers: list[tuple[str, str]]
    sealed: bytes | None


@dataclass(frozen=True)
class Claimed:
    claim_id: str


@dataclass(frozen=True)
class InFlight:
    pass


@dataclass(frozen=True)
class Mismatch:
    pass


Outcome = Claimed | InFlight | Mismatch | Stored


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine, retention: timedelta, lease: timedelta) -> None:
        self.engine = engine
        self.retention = retention
        self.lease = lease
        self.keys = KeyRing()

    @staticmethod
    def _row(clinic_id: str, caller: str, key: str) -> Any:
        table = idempotency_keys.c
        return and_(table.clinic_id == clinic_id, table.caller == caller, table.key == key)

    async def claim(self, clinic_id: str, caller: str, key: str, print_: str) -> Outcome:
        now = datetime.now(UTC)
        claim_id = str(uuid.uuid4())
        this = self._row(clinic_id, caller, key)
        table = idempotency_keys.c
        try:
            async with self.engine.begin() as conn:
                # A forgotten key, or a claim whose holder died, is free again.
                await conn.execute(
                    delete(idempotency_keys).where(
                        this,
                        or_(
                            table.claimed_at < now - self.retention,
                            and_(table.status.is_(None), table.claimed_at < now - self.lease),
                        ),
                    )
                )
                await conn.execute(
                    insert(idempotency_keys).values(
                        clinic_id=clinic_id,
                        caller=caller,
                        key=key,
                        fingerprint=print_,
                        claim_id=claim_id,
                        claimed_at=now,
                    )
                )
            return Claimed(claim_id)
        except IntegrityError:
            pass
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(idempotency_keys).where(this))).one_or_none()
        if row is None:  # released between our insert and this read: let the client retry
            return InFlight()
        if row.fingerprint != print_:
            return Mismatch()
        if row.status is None:
            return InFlight()
        headers = [(k, v) for k, v in row.headers or ()]
        return Stored(clinic_id, row.client_id, row.status, headers, row.body)

    async def complete(
        self,
        clinic_id: str,
        caller: str,
        key: str,
        claim_id: str,
        response: StoredResponse,
        client_id: str | None,
    ) -> None:
        async with self.engine.begin() as conn:
            sealed = await seal_answer(self.keys, conn, clinic_id, client_id, response.body)
            await conn.execute(
                update(idempotency_keys)
                .where(self._row(clinic_id, caller, key), idempotency_keys.c.claim_id == claim_id)
                .values(
                    status=response.status,
                    headers=response.headers,
                    body=sealed,
                    client_id=client_id,
                )
            )

    async def open(self, stored: Stored) -> StoredResponse | None:
        """The stored answer readable again; None when its words are gone (the client erased)."""
        if stored.sealed is None:
            return None
        async with self.engine.connect() as conn:
            body = await open_answer(
                self.keys, conn, stored.clinic_id, stored.client_id, stored.sealed
            )
        return None if body is None else StoredResponse(stored.status, stored.headers, body)

    async def release(self, clinic_id: str, caller: str, key: str, claim_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(idempotency_keys).where(
                    self._row(clinic_id, caller, key), idempotency_keys.c.claim_id == claim_id
                )
            )

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Forget keys older than the retention period; returns how many went."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.claimed_at < cutoff)
            )
        return int(result.rowcount or 0)

    async def purge_round(self) -> None:
        """One round of the cleanup the runtime runs periodically (ServiceRuntime.add_periodic,
        which logs a failed round and retries at the next)."""
        purged = await self.purge_expired()
        if purged:
            log.info("idempotency keys expired", count=purged)


async def forget_client(conn: AsyncConnection, clinic_id: str, client_id: str) -> None:
    """Part of a client's erasure, in its transaction: their stored answers' bodies go. The rows
    stay until they expire, so a replay answers 410 instead of running the command again."""
    await conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.clinic_id == clinic_id, idempotency_keys.c.client_id == client_id)
        .values(body=None)
    )
