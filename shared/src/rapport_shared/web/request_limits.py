"""The edge of every service: request bodies are JSON objects, bounded in size and in depth.

A pure ASGI middleware rather than a FastAPI dependency, so the cap holds while the body is being
read: a client announcing (or streaming) more than the limit is refused with 413 after at most
limit + one chunk has been buffered, never after the whole upload has been taken in.

The shape is checked here too, before anything reads the body (authorization looks up the
client_id in it, the idempotency store fingerprints it): every body the services take is an
object, and none is more than a few levels deep, so anything else is refused at once, by name,
instead of being read by each of them in its own way (a deeply nested body overflowed Python's
recursion limit: a 500).
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from rapport_shared.web.http import NOT_AN_OBJECT
from rapport_shared.web.problems import (
    BODY_TOO_LARGE,
    INVALID_REQUEST,
    UNSUPPORTED_MEDIA_TYPE,
    field_problem,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Media types a body may have: JSON itself, or any structured "+json" type (merge-patch).
_JSON_TYPES = ("application/json",)
# The deepest body the services take is a closing plan: object, goals, goal, milestones,
# milestone (5 levels).
MAX_JSON_DEPTH = 32


class BodyTooLarge(Exception):
    pass


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (name in lower case), decoded as latin-1."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in _JSON_TYPES or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, or BodyTooLarge as soon as more than limit bytes have arrived."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive channel that yields the already-read body once, then defers to the real one
    (which reports the client's disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def json_depth_over(value: Any, limit: int) -> bool:
    """Whether objects and arrays are nested more than limit levels deep (iterative: a
    recursive walk is what the depth would break)."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if level + 1 > limit:
                    return True
                stack.append((child, level + 1))
    return False


def shape_problem(body: bytes) -> str | None:
    """What is wrong with the shape of a JSON body, or None. Malformed JSON is left to the
    route's validation, which locates the error."""
    try:
        value = json.loads(body)
    except RecursionError:
        return f"nested more than {MAX_JSON_DEPTH} levels deep"
    except ValueError:
        return None
    if not isinstance(value, dict):
        return NOT_AN_OBJECT
    if json_depth_over(value, MAX_JSON_DEPTH):
        return f"nested more than {MAX_JSON_DEPTH} levels deep"
    return None


def too_large(limit: int) -> Any:
    detail = f"the request body exceeds {limit} bytes"
    return field_problem(BODY_TOO_LARGE, detail, "body", f"at most {limit} bytes")


class RequestLimits:
    """413 for bodies over max_body_bytes, 415 for a body that is not JSON, 422 for one that
    is not an object or is nested too deeply."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await too_large(self.limit)(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.limit)
        except BodyTooLarge:
            await too_large(self.limit)(scope, receive, send)
            return
        content_type = header(scope, b"content-type")
        # An empty body needs no type (POST .../start carries none); any other must be JSON.
        if body and not (content_type and is_json_media_type(content_type)):
            response = field_problem(
                UNSUPPORTED_MEDIA_TYPE,
                f"the request body must be application/json, not {content_type or 'untyped'}",
                "Content-Type",
                "must be application/json",
            )
            await response(scope, receive, send)
            return
        wrong_shape = shape_problem(body) if body else None
        if wrong_shape is not None:
            response = field_problem(INVALID_REQUEST, f"body: {wrong_shape}", "body", wrong_shape)
            await response(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)
