"""Authentication and authorization at the HTTP edge.

`authenticate` runs for every request (from the HTTP middleware): everything but health,
metrics and the docs needs a valid bearer token, and /admin needs an operator's. Each clinical
route then declares what it does with `authorize(action, client=...)`: the dependency finds the
client the request touches (from the path, from the resource's own stream, or from the body),
looks up that client's care team (when the policy can depend on it) and asks the pure policy
(rapport_shared.security.policy). The database is read only for what a check needs: a route whose
client is in the path, checked for a clinic admin, reads nothing.
"""

import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rapport_shared.contracts.clinic import is_clinic_slug
from rapport_shared.contracts.errors import PROBLEM_TYPES, DomainError, NotFound
from rapport_shared.persistence import event_log
from rapport_shared.security import care_team
from rapport_shared.security.auth import InvalidToken, Principal, TokenVerifier
from rapport_shared.security.policy import Action, Decision, Target, decide, needs_care_team
from rapport_shared.web.idempotency.authorization import authorized
from rapport_shared.web.problems import domain_problem

PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc"}
    | {"/openapi.json", "/asyncapi.json"}
)
ADMIN_PREFIX = "/admin"
StreamOf = Callable[[UUID], str]
Owner = tuple[str, str | None]  # (clinic, client) of a stream
# Owners remembered per engine: a stream's first event is never changed or deleted (the store
# is append-only), so its owner, once read, holds for good. A stream not found is not
# remembered: it may be created the next moment.
_OWNERS: "weakref.WeakKeyDictionary[AsyncEngine, dict[str, Owner]]" = weakref.WeakKeyDictionary()
OWNERS_REMEMBERED = 4096
# The (clinic, client) of a stream's first event, the client id read out of its JSON in the
# database; as SQL for the driver, per dialect (see stream_owner).
# Declares the bearer scheme in OpenAPI (the /docs "Authorize" button, fuzzers); the token itself
# was checked by the middleware before any route runs.
_BEARER = HTTPBearer(auto_error=False, description="A JWT: docs/security.md")


class Unauthenticated(DomainError):
    status = 401
    title = "Unauthenticated"
    problem_type = PROBLEM_TYPES + "unauthenticated"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    problem_type = PROBLEM_TYPES + "forbidden"


def unauthenticated_response(detail: str) -> Response:
    response = domain_problem(Unauthenticated(detail))
    response.headers["WWW-Authenticate"] = 'Bearer realm="rapport"'
    return response


async def authenticate(request: Request, verifier: TokenVerifier) -> Principal | Response | None:
    """The caller, a problem response to send instead, or None for a public path."""
    path = request.url.path
    if path in PUBLIC_PATHS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return unauthenticated_response("send a bearer token: Authorization: Bearer <token>")
    try:
        principal = await verifier.verify(token.strip())
    except InvalidToken as error:
        return unauthenticated_response(f"the bearer token was refused: {error}")
    is_admin_path = path == ADMIN_PREFIX or path.startswith(f"{ADMIN_PREFIX}/")
    if is_admin_path and principal.role != "operator":
        return domain_problem(Forbidden("the /admin operations need an operator token"))
    request.state.principal = principal
    return principal


def principal_of(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthenticated("no bearer token was checked for this request")
    return principal


class Reads:
    """A read connection for a request's lookups, opened on first use, closed by close()."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._opened: contextlib.AsyncExitStack | None = None
        self._conn: AsyncConnection | None = None

    async def conn(self) -> AsyncConnection:
        if self._conn is None:
            self._opened = contextlib.AsyncExitStack()
            self._conn = await self._opened.enter_async_context(self.engine.connect())
        return self._conn

    async def stream_owner(self, stream_id: str) -> Owner | None:
        owner = _OWNERS.setdefault(self.engine, {}).get(stream_id)
        if owner is None:
            owner = await stream_owner(await self.conn(), stream_id)
            if owner is not None:
                remember_owner(self.engine, stream_id, owner)
        return owner

    async def close(self) -> None:
        if self._opened is not None:
            await self._opened.aclose()
        self._opened = self._conn = None


def remember_owner(engine: AsyncEngine, stream_id: str, owner: Owner) -> None:
    """Remember a stream's owner: once read, or by its creator once the stream's first event
    has committed (the next request on it then reads nothing to authorize)."""
    owners = _OWNERS.setdefault(engine, {})
    if stream_id not in owners and len(owners) >= OWNERS_REMEMBERED:
        del owners[next(iter(owners))]
    owners[stream_id] = owner


def unseen(field: str | None) -> NotFound:
    """The one answer for whatever the caller may not know exists: a missing id, another
    clinic's, and (for a client) another client's get the same bytes, so a body can never tell
    them apart. It names the field but not the value: the value is what the caller sent."""
    noun = field.removesuffix("_id").replace("_", " ") if field else None
    return NotFound(f"no such {noun}" if noun else "nothing here", field=field)


@dataclass(frozen=True)
class FromPath:
    """The client is named in the path (/clients/{client_id}/...)."""

    param: str = "client_id"

    @property
    def field(self) -> str:
        return self.param

    async def resolve(self, request: Request, reads: Reads, clinic: str) -> str | None:
        return str(request.path_params[self.param])


@dataclass(frozen=True)
class FromStream:
    """The client owns the resource the path names: read it from the resource's first event.
    A resource that does not exist, or exists in another clinic, is 404 for everyone."""

    param: str
    stream_of: StreamOf

    @property
    def field(self) -> str:
        return self.param

    async def resolve(self, request: Request, reads: Reads, clinic: str) -> str | None:
        resource_id = _uuid(request.path_params[self.param], self.param)
        owner = await reads.stream_owner(self.stream_of(resource_id))
        if owner is None or owner[0] != clinic:
            raise unseen(self.param)
        return owner[1]


@dataclass(frozen=True)
class FromBody:
    """The client is named in the request body (creating something for a client)."""

    field: str = "client_id"

    async def resolve(self, request: Request, reads: Reads, clinic: str) -> str | None:
        body = await _body(request)
        value = body.get(self.field)
        if not isinstance(value, str):
            # What the route's own validation would answer (it runs only after this).
            kind = "string_type" if self.field in body else "missing"
            error = {"type": kind, "loc": ("body", self.field), "msg": kind, "input": value}
            raise RequestValidationError([error])
        return value


ClientSource = FromPath | FromStream | FromBody


async def stream_owner(conn: AsyncConnection, stream_id: str) -> Owner | None:
    """(clinic, client) of the stream's first event, or None when there is no such stream."""
    # Read lean (event_log.first_client): it runs for every request on a resource not yet
    # remembered (a session's first command after its scheduling).
    return await event_log.first_client(conn, stream_id)


def authorize(
    action: Action,
    client: ClientSource | None = None,
    *,
    acting_as: tuple[str, ...] = (),
    creates: tuple[str, StreamOf] | None = None,
) -> Any:
    """A route dependency: 404/403 unless the caller may do `action` on the target.

    acting_as: body fields naming the request's author (counselor_id, signed_by, ...): only a
    clinic admin may name someone else. creates: (body field, stream of it) for a create that
    takes a caller-chosen id: an id already used in another clinic is answered as unseen (404)
    rather than as a conflict, which would tell that it exists.
    """

    async def dependency(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> Principal:
        principal = principal_of(request)
        clinic = str(request.path_params["clinic_id"])
        if not is_clinic_slug(clinic):
            return principal  # no such clinic can exist: the route's validation answers 422
        target = Target(clinic_id=clinic)
        if principal.clinic == clinic:  # another clinic's resources are not even looked up
            reads = Reads(request.app.state.runtime.engine)
            try:
                target = await _target(
                    request, reads, principal, action, client, acting_as, creates
                )
            finally:
                await reads.close()
        request.state.audit_client = target.client_id
        decision = decide(principal, action, target)
        if decision is Decision.NOT_FOUND:
            # Exactly what a missing id gets (FromStream above, the views' own lookups).
            raise unseen(client.field if client is not None else None)
        if decision is Decision.FORBIDDEN:
            raise Forbidden(f"a {principal.role} may not {action} here")
        # Allowed: an Idempotency-Key replay answers from here, before the command runs again.
        authorized(request, target.client_id)
        return principal

    return Depends(dependency)


def authorize_create(id_field: str, stream_of: StreamOf) -> Any:
    """The usual create: for the body's client_id, by the body's counselor_id, with an optional
    caller-chosen id in id_field."""
    return authorize(
        Action.WRITE,
        FromBody("client_id"),
        acting_as=("counselor_id",),
        creates=(id_field, stream_of),
    )


async def _target(
    request: Request,
    reads: Reads,
    principal: Principal,
    action: Action,
    client: ClientSource | None,
    acting_as: tuple[str, ...],
    creates: tuple[str, StreamOf] | None,
) -> Target:
    clinic = principal.clinic
    client_id = await client.resolve(request, reads, clinic) if client is not None else None
    request.state.audit_client = client_id
    if creates is not None:
        await _refuse_foreign_id(request, reads, principal, *creates)
    body = await _body(request) if acting_as else {}
    team: frozenset[str] = frozenset()
    if client_id and needs_care_team(principal, action):
        team = await care_team.team_of(await reads.conn(), clinic, client_id)
    return Target(
        clinic_id=clinic,
        client_id=client_id,
        care_team=team,
        acting_as=frozenset(str(body[f]) for f in acting_as if body.get(f) is not None),
    )


async def _refuse_foreign_id(
    request: Request, reads: Reads, principal: Principal, field: str, stream_of: StreamOf
) -> None:
    value = (await _body(request)).get(field)
    if value is None:
        return
    owner = await reads.stream_owner(stream_of(_uuid(value, field)))
    if owner is None:
        return
    # Someone the caller may not know of owns the id: another clinic, or another client.
    foreign = owner[0] != principal.clinic
    if foreign or (principal.role == "client" and owner[1] != principal.sub):
        raise NotFound(f"{field} {value} cannot be used", field=field)


def _uuid(value: Any, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise DomainError(f"{field}: not a UUID", field=field) from None


async def _body(request: Request) -> dict[str, Any]:
    # FastAPI has parsed (and cached) the JSON before dependencies run; a malformed body never
    # gets here. Anything but an object is left for the route's own validation to refuse.
    if not await request.body():
        return {}
    body = await request.json()
    return body if isinstance(body, dict) else {}
