"""The ASGI middleware: claims the key, runs the command once and keeps its answer, or replays
the kept answer (after the route's authorization), or refuses."""

import re
from collections.abc import Sequence

import structlog
from fastapi.responses import Response

from rapport_shared.web.idempotency.authorization import CLIENT, REPLAY_PENDING, ReplayAuthorized
from rapport_shared.web.idempotency.keys import (
    COMMAND_METHODS,
    HEADER,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    caller_of,
    fingerprint,
    is_well_formed,
)
from rapport_shared.web.idempotency.store import (
    IdempotencyStore,
    InFlight,
    Mismatch,
    Stored,
    StoredResponse,
)
from rapport_shared.web.problems import (
    IDEMPOTENCY_KEY_REUSED,
    INVALID_REQUEST,
    REQUEST_IN_PROGRESS,
    STORED_ANSWER_GONE,
    ProblemType,
    field_problem,
)
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

# Response headers worth replaying; per-request ones (correlation id, date) are made afresh.
_KEPT_HEADERS = frozenset({b"content-type", b"location", b"allow", b"retry-after"})
_CLINIC_PATH = re.compile(r"^/clinics/([^/]+)/")
NO_CLINIC = "-"
NO_CALLER = ""


def _key_problem(kind: ProblemType, message: str) -> Response:
    return field_problem(kind, f"{HEADER}: {message}", HEADER, message)


def invalid_key() -> Response:
    return _key_problem(
        INVALID_REQUEST, f"1-{MAX_KEY_LENGTH} characters of A-Z, a-z, 0-9 and . _ : + / = -"
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
        if not is_well_formed(key):
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
                IDEMPOTENCY_KEY_REUSED,
                "this key was already used with a different request; use a new key",
            )
            await response(scope, receive, send)
            return
        if isinstance(outcome, InFlight):
            response = _key_problem(
                REQUEST_IN_PROGRESS, "a request with this key is still being processed"
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
        await self._settle(claim, capture, state.get(CLIENT))
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
        scope.setdefault("state", {})[REPLAY_PENDING] = True
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
                STORED_ANSWER_GONE,
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
