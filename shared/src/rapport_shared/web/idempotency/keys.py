"""What a key is and what it is scoped by: the header, its syntax, the caller, and the
fingerprint that makes two requests "the same"."""

import hashlib
import json
import re

from rapport_shared.web.request_limits import Scope, header

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 128
# Printable, unambiguous and URL/base64-safe: UUIDs, ULIDs and random tokens all fit.
KEY_PATTERN = rf"^[A-Za-z0-9._:+/=-]{{1,{MAX_KEY_LENGTH}}}$"
_KEY = re.compile(KEY_PATTERN)
COMMAND_METHODS = frozenset({"POST", "PATCH"})


def is_well_formed(key: str) -> bool:
    return _KEY.match(key) is not None


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
