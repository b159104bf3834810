"""The audit log: every authenticated request to clinical data, allowed or not, in an
append-only table (the database refuses UPDATE and DELETE: the triggers of
rapport_shared.persistence.shared_migrations.create_access_tables_v1).

Who (sub, role), what (method, route template, the ids in the path), which client, when, from
where (the peer address, or the client a trusted proxy names: rapport_shared.web.forwarded), the
outcome (HTTP status) and the correlation id. Entries are written after the response
is known, apart from the request's own transaction (together with other requests' entries when
several finish at once: rapport_shared.security.audit_writer), so a refused or failed request is
recorded as well.
Auditors and clinic admins read their clinic's entries at GET /clinics/{clinic_id}/audit. An
entry belongs to the caller's clinic; an operator's (clinic '*', which no auditor reads) belongs
to the clinic its path names, so that clinic's auditors see who probed it.
"""

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rapport_shared.contracts.base import AwareDatetime, PersonId
from rapport_shared.contracts.clinic import CLINIC_SLUG_PATTERN, is_clinic_slug
from rapport_shared.persistence.schema import audit_log_table as table
from rapport_shared.security.access import authorize
from rapport_shared.security.audit_writer import AuditWriter
from rapport_shared.security.auth import ALL_CLINICS, Principal
from rapport_shared.security.policy import Action
from rapport_shared.web.forwarded import IPNetwork, client_address
from rapport_shared.web.http import CORRELATION_HEADER

AUDITED_PREFIX = "/clinics/"
MAX_PAGE = 500


def created(request: Request, **ids: object) -> None:
    """Name what a create made (its id is not in the path) in the request's audit entry."""
    request.state.audit_created = {name: str(value) for name, value in ids.items()}


class RecordedRequests:
    """Pure ASGI middleware: when a request's response is complete, observe its latency
    (metrics) and append its audit entry, then let the last part of the response go out, so a
    client that has its answer finds the entry (as with the BaseHTTPMiddleware pair this
    replaces, each of which cost a task, a stream and a copy of the response per request).

    Outermost of the application's middleware: it sees the final status and correlation id."""

    def __init__(
        self,
        app: ASGIApp,
        engine: AsyncEngine,
        observe: Callable[[str, str, int, float], None],
        trusted_proxies: Sequence[IPNetwork] = (),
    ) -> None:
        self.app = app
        self.writer = AuditWriter(engine)
        self.observe = observe
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, correlation_id = 500, None

        async def send_recorded(message: Message) -> None:
            nonlocal status, correlation_id
            if message["type"] == "http.response.start":
                status = message["status"]
                correlation_id = Headers(raw=message.get("headers", [])).get(CORRELATION_HEADER)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                route = getattr(scope.get("route"), "path", "unmatched")
                self.observe(scope["method"], route, status, started)
                request = Request(scope)
                await record(self.writer, request, status, correlation_id, self.trusted_proxies)
            await send(message)

        await self.app(scope, receive, send_recorded)


async def record(
    writer: AuditWriter,
    request: Request,
    status: int,
    correlation_id: str | None,
    trusted_proxies: Sequence[IPNetwork] = (),
) -> None:
    """Append the entry for a finished request, if it is one the audit log covers."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal) or not request.url.path.startswith(AUDITED_PREFIX):
        return
    route = getattr(request.scope.get("route"), "path", None)
    params = dict(request.scope.get("path_params") or {})
    target_clinic = str(params.pop("clinic_id", "")) or request.url.path.split("/")[2]
    entry = {
        "at": datetime.now(UTC),
        "clinic_id": _owning_clinic(principal, target_clinic),
        "target_clinic_id": target_clinic[:63],
        "sub": principal.sub,
        "role": principal.role,
        "method": request.method,
        # An unmatched path is recorded as sent (cut short), never as a template it lacks.
        "route": (route or request.url.path)[:200],
        "resource": {
            **{k: str(v) for k, v in params.items()},
            **getattr(request.state, "audit_created", {}),
        },
        "client_id": getattr(request.state, "audit_client", None),
        "client_address": client_address(
            request.client.host if request.client else None,
            request.headers.getlist("forwarded"),
            request.headers.getlist("x-forwarded-for"),
            trusted_proxies,
        ),
        "status": status,
        "correlation_id": correlation_id,
    }
    await writer.append(entry)


def _owning_clinic(principal: Principal, target_clinic: str) -> str:
    """The clinic whose auditors see the entry: the caller's own, so nothing about one clinic's
    users is shown to another; an operator belongs to none, so their request is the targeted
    clinic's to see (a path naming no possible clinic stays under '*')."""
    if principal.clinic == ALL_CLINICS and is_clinic_slug(target_clinic):
        return target_clinic
    return principal.clinic


class AuditEntry(BaseModel):
    id: int
    at: datetime
    sub: str
    role: str
    method: str
    route: str
    resource: dict[str, str]
    client_id: str | None
    client_address: str | None
    status: int
    target_clinic_id: str
    correlation_id: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_after: int | None


def audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get(
        "/clinics/{clinic_id}/audit",
        dependencies=[authorize(Action.READ_AUDIT)],
        summary="The clinic's audit log, oldest first; page with `after`",
    )
    async def audit_log(
        request: Request,
        clinic_id: Annotated[str, Path(pattern=CLINIC_SLUG_PATTERN, max_length=63)],
        client_id: PersonId | None = None,
        sub: PersonId | None = None,
        status: Annotated[int | None, Query(ge=100, le=599)] = None,
        since: AwareDatetime | None = None,
        until: AwareDatetime | None = None,
        after: Annotated[
            # A database integer: a larger one cannot name an entry (and would not bind).
            int, Query(ge=0, le=2**63 - 1, description="The last id of the previous page")
        ] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> AuditPage:
        query = select(table).where(table.c.clinic_id == clinic_id, table.c.id > after)
        filters: dict[str, Any] = {"client_id": client_id, "sub": sub, "status": status}
        for column, value in filters.items():
            if value is not None:
                query = query.where(table.c[column] == value)
        if since is not None:
            query = query.where(table.c.at >= since)
        if until is not None:
            query = query.where(table.c.at < until)
        engine: AsyncEngine = request.app.state.runtime.engine
        async with engine.connect() as conn:
            rows = (await conn.execute(query.order_by(table.c.id).limit(limit))).all()
        entries = [AuditEntry.model_validate(_utc(row._mapping)) for row in rows]
        full_page = len(entries) == limit
        return AuditPage(entries=entries, next_after=entries[-1].id if full_page else None)

    return router


def _utc(row: Any) -> dict[str, Any]:
    entry = dict(row)
    if entry["at"].tzinfo is None:  # SQLite hands back naive datetimes
        entry["at"] = entry["at"].replace(tzinfo=UTC)
    return entry
