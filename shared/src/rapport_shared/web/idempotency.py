"""Idempotency-Key on POST and PATCH commands: a retried request gets the first answer again.

- Same key, same request (method, path, query, body): the first response is replayed (status,
  body, content type and location) with `Idempotent-Replayed: true`, and nothing runs again.
- Same key, different request: 422, naming the Idempotency-Key header.
- Same key while the first request is still running: 409; retry later.
- A request that ends in 5xx (or raises) releases its key, so a retry runs again.

Keys live in the service's own database (table idempotency_keys), scoped by clinic (from the
path) and by the caller, and are forgotten after the retention period.

The claim is committed before the command runs and the response stored after it commits, in
separate transactions: if the process dies in between, the key stays claimed until its lease
runs out and a retry then runs the command again. Commands that take a client-chosen id
(session_id, goal_id, ...) are safe against that too; the key covers the rest.

A stored answer is replayed only to the same clinic, subject and role, and only once the route's
own authorization has let the repeated request through: the middleware runs the request again
up to the route's `authorize` dependency, which calls `authorized()` at its end; that is where a
replay leaves the application. A caller who may no longer do what they did (removed from the
care team, another role with the same subject) gets the refusal a fresh request would get, not
the stored answer. Paths outside /clinics/ (the operators' /admin) are authorized whole by
authentication, which has run before this middleware, and are replayed at once.

Stored answers hold clinical words (note sections, plan words, addenda), so their bodies rest
encrypted: under the key of the client the request concerned (as its authorization named them,
crypto.KeyRing, client_keys) or, when none was known (a refusal before the client was found, an
operator's command), under the service's own key, kept in client_keys under an owner no clinic
can name. Erasing a client destroys their key and `forget_client` drops their stored bodies: a
replay then answers 410 Gone, and does not run the command again.
"""

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi.responses import Response
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import HTTPConnection

from rapport_shared.eventsourcing.crypto import (
    ClientErasedError,
    CryptoError,
    KeyRing,
    open_bytes,
    seal_bytes,
)
from rapport_shared.web.http import problem
from rapport_shared.web.request_limits import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    replaying,
)

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 128
# Printable, unambiguous and URL/base64-safe: UUIDs, ULIDs and random tokens all fit.
KEY_PATTERN = rf"^[A-Za-z0-9._:+/=-]{{1,{MAX_KEY_LENGTH}}}$"
_KEY = re.compile(KEY_PATTERN)
COMMAND_METHODS = frozenset({"POST", "PATCH"})
# Response headers worth replaying; per-request ones (correlation id, date) are made afresh.
_KEPT_HEADERS = frozenset({b"content-type", b"location", b"allow", b"retry-after"})
_CLINIC_PATH = re.compile(r"^/clinics/([^/]+)/")
NO_CLINIC = "-"
NO_CALLER = ""
# The client_keys row whose key seals answers that concern no known client. "*" is no clinic's
# slug, so no erasure can reach it.
SERVICE_KEY_OWNER = ("*", "stored-answers")
# Keys of the request state (scope["state"]) shared with the route's authorization.
_REPLAY_PENDING = "idempotency_replay_pending"
_CLIENT = "idempotency_client"


def _columns_v1() -> list[Column[Any]]:
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


def _client_column() -> Column[Any]:
    # The client the request concerned, as its authorization named them.
    return Column("client_id", String(64))


def add_idempotency_table(metadata: MetaData) -> Table:
    return Table("idempotency_keys", metadata, *_columns_v1(), _client_column())


idempotency_keys = add_idempotency_table(MetaData())


def caller_of(scope: Scope) -> str | None:
    """THE one place the caller's identity is read for scoping keys.

    Authentication puts the verified principal in the request state (`request.state.principal`,
    i.e. scope["state"]["principal"]) before this middleware runs; its subject (and clinic, when
    it has one) names the caller. Where no principal is set yet (authentication done later, in a
    route dependency), the credentials stand in for it: a stored response is then only replayed
    to a request bearing the very same Authorization header, so a replay can never hand a
    response to someone who could not have made the request. Without either, None: every caller
    of a clinic shares one key space (a different request under a used key is still refused).
    """
    state = scope.get("state") or {}
    principal = state.get("principal") if isinstance(state, dict) else None
    if principal is not None:
        subject = getattr(principal, "subject", None) or getattr(principal, "sub", None)
        clinic = getattr(principal, "clinic", None) or getattr(principal, "clinic_id", None)
        # The role too: one subject may hold tokens of several roles (a counselor who is also
        # an auditor), and what one role was answered is not for the other.
        role = getattr(principal, "role", None)
        identity = str(subject if subject is not None else principal)
        return ":".join(str(part) for part in (clinic, role, identity) if part)
    credentials = header(scope, b"authorization")
    if credentials:
        return "credentials:" + hashlib.sha256(credentials.encode("latin-1")).hexdigest()
    return None


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests "the same": method, path, query and the body's JSON value (so key
    order and whitespace do not matter); a body that is not JSON counts byte for byte."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: the app answers
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


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


def _aad(clinic_id: str, client_id: str | None) -> bytes:
    return f"rapport-stored-answer:{clinic_id}:{client_id or ''}".encode()


def _key_owner(clinic_id: str, client_id: str | None) -> tuple[str, str]:
    return (clinic_id, client_id) if client_id else SERVICE_KEY_OWNER


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
            sealed = await self._seal(conn, clinic_id, client_id, response.body)
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

    async def _seal(
        self, conn: AsyncConnection, clinic_id: str, client_id: str | None, body: bytes
    ) -> bytes | None:
        try:
            key = await self.keys.key(conn, *_key_owner(clinic_id, client_id), create=True)
        except ClientErasedError:
            return None  # erased while the request ran: nothing of theirs is kept
        assert key is not None  # create=True makes one or raises
        return seal_bytes(key, _aad(clinic_id, client_id), body)

    async def open(self, stored: Stored) -> StoredResponse | None:
        """The stored answer readable again; None when its words are gone (the client erased)."""
        if stored.sealed is None:
            return None
        async with self.engine.connect() as conn:
            key = await self.keys.key(conn, *_key_owner(stored.clinic_id, stored.client_id))
        if key is None:
            return None  # the client's key was destroyed: crypto-shredded
        try:
            body = open_bytes(key, _aad(stored.clinic_id, stored.client_id), stored.sealed)
        except CryptoError:
            log.warning("a stored answer does not open", clinic_id=stored.clinic_id)
            return None
        return StoredResponse(stored.status, stored.headers, body)

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

    async def purge_forever(self, interval_seconds: float) -> None:
        """The background loop the runtime runs."""
        while True:
            try:
                purged = await self.purge_expired()
                if purged:
                    log.info("idempotency keys expired", count=purged)
            except Exception as error:  # noqa: BLE001 - a failed round is retried next time
                log.warning("idempotency cleanup failed", error=repr(error))
            await asyncio.sleep(interval_seconds)


async def forget_client(conn: AsyncConnection, clinic_id: str, client_id: str) -> None:
    """Part of a client's erasure, in its transaction: their stored answers' bodies go. The rows
    stay until they expire, so a replay answers 410 instead of running the command again."""
    await conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.clinic_id == clinic_id, idempotency_keys.c.client_id == client_id)
        .values(body=None)
    )


class ReplayAuthorized(Exception):  # noqa: N818 - a signal, not an error
    """Raised by authorized() during a replay: the route's authorization let the repeated
    request through, and the middleware answers with the stored response."""


def authorized(connection: HTTPConnection, client_id: str | None) -> None:
    """The end of a route's authorization (rapport_shared.security.access.authorize): the caller may
    do what the request does, to client_id (None: no client). Records the client, whose key then
    seals the answer; during a replay, hands the request back to the middleware (raises
    ReplayAuthorized) before the route's command can run again."""
    state = connection.scope.setdefault("state", {})
    state[_CLIENT] = client_id
    if state.get(_REPLAY_PENDING):
        raise ReplayAuthorized


def _key_problem(status: int, title: str, message: str) -> Response:
    return problem(
        status, title, f"{HEADER}: {message}", errors=[{"field": HEADER, "message": message}]
    )


def invalid_key() -> Response:
    return _key_problem(
        422,
        "Invalid request",
        f"1-{MAX_KEY_LENGTH} characters of A-Z, a-z, 0-9 and . _ : + / = -",
    )


class _Capture:
    """Collects the response the application sends, to store it before passing it on."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))

    def stored(self) -> StoredResponse:
        kept = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers]
        kept = [(k, v) for k, v in kept if k.lower().encode() in _KEPT_HEADERS]
        return StoredResponse(self.status, kept, b"".join(self.chunks))


async def _send_stored(
    send: Send, response: StoredResponse, extra: Sequence[tuple[str, str]] = ()
) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class IdempotencyMiddleware:
    """Runs inside RequestLimits, so the body it reads to fingerprint is already bounded."""

    def __init__(self, app: ASGIApp, store: IdempotencyStore, max_body_bytes: int) -> None:
        self.app = app
        self.store = store
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] not in COMMAND_METHODS:
            await self.app(scope, receive, send)
            return
        if not _KEY.match(key):
            await invalid_key()(scope, receive, send)
            return
        body = await read_body(receive, self.max_body_bytes)
        path: str = scope["path"]
        clinic = _CLINIC_PATH.match(path)
        clinic_id = clinic.group(1)[:63] if clinic else NO_CLINIC
        caller = (caller_of(scope) or NO_CALLER)[:200]
        print_ = fingerprint(scope["method"], path, scope.get("query_string", b""), body)
        outcome = await self.store.claim(clinic_id, caller, key, print_)
        if isinstance(outcome, Stored):
            await self._replay(scope, replaying(body, receive), send, outcome)
            return
        if isinstance(outcome, Mismatch):
            response = _key_problem(
                422,
                "Idempotency-Key reused",
                "this key was already used with a different request; use a new key",
            )
            await response(scope, receive, send)
            return
        if isinstance(outcome, InFlight):
            response = _key_problem(
                409, "Request in progress", "a request with this key is still being processed"
            )
            response.headers["Retry-After"] = "1"
            await response(scope, receive, send)
            return
        capture = _Capture()
        claim = (clinic_id, caller, key, outcome.claim_id)
        state = scope.setdefault("state", {})  # where authorized() names the client
        try:
            await self.app(scope, replaying(body, receive), capture)
        except BaseException:
            await self._settle(claim, None, None)
            raise
        await self._settle(claim, capture, state.get(_CLIENT))
        start = {"type": "http.response.start", "status": capture.status}
        await send({**start, "headers": capture.headers})
        await send({"type": "http.response.body", "body": b"".join(capture.chunks)})

    async def _replay(self, scope: Scope, receive: Receive, send: Send, stored: Stored) -> None:
        """The stored answer, once the request passes the route's authorization again; the
        application's own answer (a refusal) when it does not."""
        if not _CLINIC_PATH.match(scope["path"]):
            # /admin: authentication refused any caller but an operator before this middleware.
            await self._send_stored(scope, receive, send, stored)
            return
        scope.setdefault("state", {})[_REPLAY_PENDING] = True
        answered = 0

        async def watched(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except ReplayAuthorized:
            await self._send_stored(scope, receive, send, stored)
            return
        if answered < 400:  # a command route without authorize(): it has just run again
            log.error("replayed request ran its route again", path=scope["path"])

    async def _send_stored(
        self, scope: Scope, receive: Receive, send: Send, stored: Stored
    ) -> None:
        response = await self.store.open(stored)
        if response is None:
            gone = _key_problem(
                410,
                "Stored answer gone",
                "this request concerned a client who was erased since (or by it): its stored"
                " answer is not kept",
            )
            gone.headers[REPLAYED_HEADER] = "true"
            await gone(scope, receive, send)
            return
        await _send_stored(send, response, [(REPLAYED_HEADER, "true")])

    async def _settle(
        self,
        claim: tuple[str, str, str, str],
        capture: _Capture | None,
        client_id: str | None,
    ) -> None:
        """Keep the response, or free the key after a failure. A database error here must not
        turn a command that committed into a 500: the key then stays claimed until its lease
        ends, and is logged."""
        try:
            if capture is None or capture.status >= 500:
                await self.store.release(*claim)
            else:
                await self.store.complete(*claim, capture.stored(), client_id)
        except Exception:
            log.exception("idempotency key not settled", key=claim[2])


def create_idempotency_table_v1() -> None:
    """For each service's migration that adds the table (alembic's op is bound there)."""
    from alembic import op

    Table("idempotency_keys", MetaData(), *_columns_v1()).create(op.get_bind())


def seal_stored_answers_v2() -> None:
    """Each service's migration to sealed answers: the client column, and the answers stored
    in clear before it dropped (which client they concern is not known; a retry of one of
    them runs its command again, which a caller-chosen id still makes safe)."""
    from alembic import op

    op.execute(idempotency_keys.delete())
    op.add_column("idempotency_keys", _client_column())


def unseal_stored_answers_v2() -> None:
    from alembic import op

    op.execute(idempotency_keys.delete())  # sealed bodies mean nothing to the older code
    with op.batch_alter_table("idempotency_keys") as table:
        table.drop_column("client_id")


def drop_idempotency_table_v1() -> None:
    from alembic import op

    op.drop_table("idempotency_keys")
