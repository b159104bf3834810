"""A minimal keep-alive HTTP/1.1 JSON client on asyncio streams.

The load generator shares two cores with the services it measures; a general-purpose client
(httpx) costs several times more CPU per request than this one, which would come straight out
of the services' share and lower the figures it is meant to measure.
"""

import asyncio
import contextlib
import functools
import json
import secrets
import time
from datetime import timedelta
from typing import Any

from rapport_devtools.testing import admin_for
from rapport_shared.security.auth import mint_token

# uvicorn closes a keep-alive connection after 5 idle seconds: reconnect before that.
IDLE_SECONDS = 4.0
# The services a benchmark starts check tokens with this run's secret (put AUTH_ENV into their
# environment); every request carries a clinic admin's token for the clinic in its path, or an
# operator's for /admin, minted once per clinic so that signing costs nothing per request.
AUTH_SECRET = secrets.token_urlsafe(32)
AUTH_ENV = {"RAPPORT_AUTH_SECRET": AUTH_SECRET}


@functools.cache
def _authorization(role: str, clinic: str) -> str:
    token = mint_token(
        AUTH_SECRET, sub=f"bench-{role}", clinic=clinic, role=role, ttl=timedelta(days=1)
    )
    return f"Authorization: Bearer {token}\r\n"


def authorization_for(path: str) -> str:
    return _authorization(*admin_for(path))


class HttpClient:
    """Every bench request is built in request() below, with the bearer token for its path."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body).encode()
        if self._writer is not None and time.monotonic() - self._last_used > IDLE_SECONDS:
            await self.close()
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"{authorization_for(path)}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self._writer.write(head.encode() + payload)
        try:
            response = await self._response(self._reader)
            self._last_used = time.monotonic()
            return response
        except BaseException:
            await self.close()  # a half-read response leaves the connection unusable
            raise

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, closing = 0, False, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                closing = value == b"close"
        body = await self._chunked(reader) if chunked else await reader.readexactly(length)
        if closing:
            await self.close()
        return status, body

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readline()
        await reader.readline()
        return b"".join(parts)

    async def json(self, method: str, path: str, body: Any = None) -> Any:
        status, content = await self.request(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {content[:300]!r}")
        return json.loads(content) if content else None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def service_client(port: int) -> HttpClient:
    """A client for a service the bench started on this machine."""
    return HttpClient("127.0.0.1", port)
