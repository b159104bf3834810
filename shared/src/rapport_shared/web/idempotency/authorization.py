"""The route's word that a replay may go out: a stored answer leaves the application only once
the repeated request has passed the route's own authorization again."""

from starlette.requests import HTTPConnection

# Keys of the request state (scope["state"]) shared by the middleware and authorized().
REPLAY_PENDING = "idempotency_replay_pending"
CLIENT = "idempotency_client"


class ReplayAuthorized(Exception):  # noqa: N818 - a signal, not an error
    """Raised by authorized() during a replay: the route's authorization let the repeated
    request through, and the middleware answers with the stored response."""


def authorized(connection: HTTPConnection, client_id: str | None) -> None:
    """The end of a route's authorization (rapport_shared.security.access.authorize): the caller may
    do what the request does, to client_id (None: no client). Records the client, whose key then
    seals the answer; during a replay, hands the request back to the middleware (raises
    ReplayAuthorized) before the route's command can run again."""
    state = connection.scope.setdefault("state", {})
    state[CLIENT] = client_id
    if state.get(REPLAY_PENDING):
        raise ReplayAuthorized
