"""HTTP plumbing every service shares: RFC 9457 problem+json errors, correlation ids, health.

Validation errors name each offending field as a dotted path (e.g. "plan.goals.0.due_date";
path and query parameters by their own names).
"""

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rapport_shared.context import bound_context
from rapport_shared.contracts.base import TIMEZONE_REQUIRED
from rapport_shared.errors import DomainError
from rapport_shared.eventstore import ConcurrencyConflict
from rapport_shared.tracing import traced

PROBLEM = "application/problem+json"
# Probed every few seconds: logging them would drown the lines that matter.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CORRELATION_HEADER = "X-Correlation-Id"
log = structlog.get_logger(__name__)
_FASTAPI_BODY_ERROR = "There was an error parsing the body"
BODY_UNREADABLE = {"field": "body", "message": "not JSON in UTF-8"}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


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
    if error.get("type") == "timezone_aware":
        return TIMEZONE_REQUIRED  # pydantic's "Input should have timezone info", with an example
    return str(error["msg"])


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _error_field(e), "message": _message(e)} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "Invalid request", detail, errors=errors)


async def _domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    extra = {"errors": [{"field": exc.field, "message": exc.detail}]} if exc.field else {}
    return problem(exc.status, exc.title, exc.detail, **extra)


async def _conflict(_: Request, exc: Exception) -> Response:
    return problem(409, "Concurrent modification", str(exc))


async def _http_error(_: Request, exc: Exception) -> Response:
    # Unknown routes (404) and wrong methods (405, with its Allow header) end up here.
    assert isinstance(exc, HTTPException)
    # FastAPI's own answer to a body it cannot even decode (not UTF-8, say): name the body.
    extra = {"errors": [BODY_UNREADABLE]} if exc.detail == _FASTAPI_BODY_ERROR else {}
    response = problem(exc.status_code, str(exc.detail), str(exc.detail), **extra)
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", error=repr(exc))
    return problem(500, "Internal error", "The request could not be completed; it changed nothing.")


# Checks the caller before the route runs: returns a response to send instead (401/403), or
# anything else to go on (rapport_shared.access.authenticate, which leaves the caller in
# request.state.principal).
Authenticate = Callable[[Request], Awaitable[object]]


def install_http_plumbing(
    app: FastAPI, is_ready: Callable[[], bool], authenticate: Authenticate | None = None
) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ConcurrencyConflict, _conflict)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    @app.middleware("http")
    async def correlation(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        refusal = await authenticate(request) if authenticate is not None else None
        # The token's subject, not a header the caller could set to anything.
        actor = getattr(getattr(request.state, "principal", None), "sub", None)
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
            if isinstance(refusal, Response):
                response = refusal
            else:
                response = await call_next(request)
            if request.url.path not in QUIET_PATHS:
                log.info(
                    "request",
                    method=request.method,
                    path=request.url.path,
                    status=response.status_code,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> Response:
        if is_ready():
            return JSONResponse({"status": "ready"})
        return problem(503, "Not ready", "database not migrated or NATS not connected yet")
