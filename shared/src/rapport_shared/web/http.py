"""HTTP plumbing every service shares: errors as RFC 9457 problem+json (of the kinds in
rapport_shared.web.problems), correlation ids, bounded request headers, health.

Validation errors name each offending field as a dotted path (e.g. "plan.goals.0.due_date";
path and query parameters by their own names), with a message a person can act on.
"""

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rapport_shared.contracts.base import TIMEZONE_REQUIRED
from rapport_shared.contracts.errors import DomainError
from rapport_shared.eventsourcing.eventstore import ConcurrencyConflict
from rapport_shared.telemetry.context import bound_context
from rapport_shared.telemetry.tracing import traced
from rapport_shared.web.problems import (
    CONCURRENT_MODIFICATION,
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    NOT_READY,
    UNREADABLE_BODY,
    domain_problem,
    field_problem,
    plain_problem,
    problem,
)

# Probed every few seconds: logging them would drown the lines that matter.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CORRELATION_HEADER = "X-Correlation-Id"
log = structlog.get_logger(__name__)
BODY_UNREADABLE = {"field": "body", "message": "not JSON in UTF-8"}
NOT_AN_OBJECT = "must be a JSON object"
# Every header's name and value together; more is refused with 431 before anything else runs.
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
# pydantic's wording of a value of the wrong type ("Input should be a valid integer"), said as
# what the field must be.
_TYPE_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": NOT_AN_OBJECT,
    "model_type": NOT_AN_OBJECT,
    "model_attributes_type": NOT_AN_OBJECT,
    "timezone_aware": TIMEZONE_REQUIRED,  # pydantic's "Input should have timezone info"
}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "path", "query", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _error_field(error: dict[str, Any]) -> str:
    # Malformed JSON is located at a character offset of the body; the field is the body itself.
    if error.get("type") == "json_invalid":
        return "body"
    return _field_name(tuple(error["loc"]))


def _message(error: dict[str, Any]) -> str:
    return _TYPE_MESSAGES.get(str(error.get("type")), str(error["msg"]))


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _error_field(e), "message": _message(e)} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(INVALID_REQUEST, detail, errors=errors)


async def _domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return domain_problem(exc)


async def _conflict(_: Request, exc: Exception) -> Response:
    return problem(CONCURRENT_MODIFICATION, str(exc))


async def _http_error(_: Request, exc: Exception) -> Response:
    # Unknown routes (404) and wrong methods (405, with its Allow header) end up here.
    assert isinstance(exc, HTTPException)
    # FastAPI's own answer to a body it cannot even decode (not UTF-8, say): name the body.
    if exc.detail == UNREADABLE_BODY.title and exc.status_code == UNREADABLE_BODY.status:
        response = problem(UNREADABLE_BODY, UNREADABLE_BODY.title, errors=[BODY_UNREADABLE])
    else:  # nothing more to say than the status: about:blank
        response = plain_problem(exc.status_code, str(exc.detail), str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", error=repr(exc))
    return problem(INTERNAL_ERROR, "The request could not be completed; it changed nothing.")


# Checks the caller before the route runs: returns a response to send instead (401/403), or
# anything else to go on (rapport_shared.security.access.authenticate, which leaves the caller in
# request.state.principal).
Authenticate = Callable[[Request], Awaitable[object]]


def header_bytes(scope: Scope) -> int:
    """The size of a request's headers: every name and value."""
    return sum(len(name) + len(value) for name, value in scope.get("headers", ()))


def headers_too_large(limit: int) -> Response:
    detail = f"the request's headers exceed {limit} bytes"
    return field_problem(HEADERS_TOO_LARGE, detail, "headers", f"at most {limit} bytes in all")


class Correlation:
    """Pure ASGI middleware: bounds the request's headers (431), authenticates the caller, binds
    the correlation id (and the caller, and the trace) for everything the request does, returns
    the id in a response header and logs the request. (As a BaseHTTPMiddleware it cost a task, a
    stream and a copy of the response per request: about as much CPU as the command itself.)

    The header bound comes first, before a token is decoded or a header copied anywhere: the
    HTTP server in use (httptools) sets none of its own."""

    def __init__(
        self,
        app: ASGIApp,
        authenticate: Authenticate | None = None,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.max_header_bytes = max_header_bytes

    async def _refusal(self, scope: Scope, request: Request) -> object:
        if header_bytes(scope) > self.max_header_bytes:
            return headers_too_large(self.max_header_bytes)
        return await self.authenticate(request) if self.authenticate is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refusal = await self._refusal(scope, request)
        # The token's subject, not a header the caller could set to anything.
        actor = getattr(getattr(request.state, "principal", None), "sub", None)
        status = 500
        with (
            traced(
                f"{request.method} {request.url.path}", request.headers.get("traceparent")
            ) as traceparent,
            bound_context(
                request.headers.get(CORRELATION_HEADER),
                actor=actor,
                traceparent=traceparent,
            ) as correlation_id,
        ):
            started = time.perf_counter()

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
                await send(message)

            if isinstance(refusal, Response):
                await refusal(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
            if request.url.path not in QUIET_PATHS:
                log.info(
                    "request",
                    method=request.method,
                    path=request.url.path,
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )


def install_http_plumbing(
    app: FastAPI,
    readiness: Callable[[], Awaitable[tuple[bool, dict[str, str]]]],
    authenticate: Authenticate | None = None,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ConcurrencyConflict, _conflict)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    app.add_middleware(Correlation, authenticate=authenticate, max_header_bytes=max_header_bytes)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> Response:
        # readiness() tells whether to send traffic here, and the parts' states (database,
        # broker) as details.
        ready, parts = await readiness()
        if ready:
            return JSONResponse({"status": "ready", **parts})
        return problem(NOT_READY, "the database is not migrated or not reachable", **parts)
