"""RFC 9457 problem documents: the kinds of refusal the HTTP edge itself gives, and the one way
a problem body is built.

Every kind has its own `type` URI (contracts.errors.PROBLEM_TYPES), its fixed title and status,
so a client tells them apart by the URI, never by the wording. The domain's kinds are the
DomainError subclasses; the ones below come from the HTTP plumbing. `about:blank` is left only
to answers that mean nothing beyond their status (an unknown route, a wrong method), as the RFC
has it (section 4.2.1).
"""

from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

from rapport_shared.contracts.errors import PROBLEM_TYPES, DomainError

PROBLEM = "application/problem+json"
PLAIN_STATUS = "about:blank"


@dataclass(frozen=True)
class ProblemType:
    uri: str
    title: str
    status: int


def _kind(name: str, title: str, status: int) -> ProblemType:
    return ProblemType(PROBLEM_TYPES + name, title, status)


INVALID_REQUEST = _kind("invalid-request", "Invalid request", 422)
# FastAPI's own refusal of a body it cannot decode (not UTF-8); its title is FastAPI's wording.
UNREADABLE_BODY = _kind("unreadable-body", "There was an error parsing the body", 400)
CONCURRENT_MODIFICATION = _kind("concurrent-modification", "Concurrent modification", 409)
BODY_TOO_LARGE = _kind("body-too-large", "Request body too large", 413)
UNSUPPORTED_MEDIA_TYPE = _kind("unsupported-media-type", "Unsupported media type", 415)
HEADERS_TOO_LARGE = _kind("headers-too-large", "Request header fields too large", 431)
INTERNAL_ERROR = _kind("internal-error", "Internal error", 500)
NOT_READY = _kind("not-ready", "Not ready", 503)
IDEMPOTENCY_KEY_REUSED = _kind("idempotency-key-reused", "Idempotency-Key reused", 422)
REQUEST_IN_PROGRESS = _kind("request-in-progress", "Request in progress", 409)
STORED_ANSWER_GONE = _kind("stored-answer-gone", "Stored answer gone", 410)

# The plumbing's kinds, for the documentation and its test (the domain's are DomainError's
# subclasses).
HTTP_KINDS = (
    INVALID_REQUEST,
    UNREADABLE_BODY,
    CONCURRENT_MODIFICATION,
    BODY_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
    NOT_READY,
    IDEMPOTENCY_KEY_REUSED,
    REQUEST_IN_PROGRESS,
    STORED_ANSWER_GONE,
)


def domain_kinds() -> list[ProblemType]:
    """The kinds DomainError and its subclasses stand for, as far as they are imported (a
    service's own are once its app is built)."""
    kinds: list[ProblemType] = []
    classes: list[type[DomainError]] = [DomainError]
    while classes:
        error = classes.pop(0)
        kinds.append(ProblemType(error.problem_type, error.title, error.status))
        classes.extend(error.__subclasses__())
    return kinds


def known_kinds() -> list[ProblemType]:
    """Every kind a service can answer with but about:blank, each once, by status."""
    unique = {kind.uri: kind for kind in (*domain_kinds(), *HTTP_KINDS)}
    return sorted(unique.values(), key=lambda kind: (kind.status, kind.uri))


def _response(uri: str, title: str, status: int, detail: str, extra: Any) -> JSONResponse:
    body = {"type": uri, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def problem(kind: ProblemType, detail: str, **extra: Any) -> JSONResponse:
    return _response(kind.uri, kind.title, kind.status, detail, extra)


def field_problem(kind: ProblemType, detail: str, field: str, message: str) -> JSONResponse:
    """A problem about one field (or "body", "headers", a header's name)."""
    return problem(kind, detail, errors=[{"field": field, "message": message}])


def domain_problem(error: DomainError) -> JSONResponse:
    extra = {"errors": [{"field": error.field, "message": error.detail}]} if error.field else {}
    return _response(error.problem_type, error.title, error.status, error.detail, extra)


def plain_problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An answer with no meaning beyond its HTTP status (about:blank)."""
    return _response(PLAIN_STATUS, title, status, detail, extra)
