"""Every HTTP call of the harness goes through here: one place builds the headers (a clinic
admin's bearer token for the clinic in the path, an operator's for /admin), one place sorts
answers into accepted / rejected / in doubt."""

import asyncio
import secrets
import uuid
from typing import Any

import httpx

from chaos.commands import Request, Sent
from chaos.ledger import Outcome
from rapport_devtools.testing import ClinicAdminAuth

# The services the harness starts verify tokens with this secret (chaos.suite).
AUTH_SECRET = secrets.token_urlsafe(48)


def headers() -> dict[str, str]:
    return {"X-Correlation-Id": f"chaos-{uuid.uuid4().hex[:16]}"}


class Api:
    """The three services' base URLs and one pooled client for all calls."""

    def __init__(self, urls: dict[str, str], timeout: float = 30.0) -> None:
        self.urls = urls
        self.client = httpx.AsyncClient(
            auth=ClinicAdminAuth(AUTH_SECRET),
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self.refused = 0  # connection attempts refused (service down): retried, never sent

    async def call(self, request: Request) -> httpx.Response:
        return await self.client.request(
            request.method,
            self.urls[request.service] + request.path,
            json=request.body,
            headers=headers(),
        )

    async def get(self, service: str, path: str) -> Any:
        response = await self.client.get(self.urls[service] + path, headers=headers())
        response.raise_for_status()
        return response.json()

    async def send(self, command: Sent, give_up_after: float = 60.0) -> Sent:
        """Send a command and record its outcome. A refused connection means the request never
        left: it is retried (a client would). A connection lost or a timeout after the request
        went out leaves the outcome unknown: in doubt, judged later by the event store."""
        assert command.request is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + give_up_after
        while True:
            try:
                response = await self.call(command.request)
            except httpx.ConnectError:
                self.refused += 1
                if loop.time() > deadline:
                    command.outcome = Outcome.REJECTED  # never delivered
                    return command
                await asyncio.sleep(0.2)
                continue
            except (httpx.TransportError, httpx.TimeoutException) as error:
                command.outcome = Outcome.IN_DOUBT
                command.error = type(error).__name__
                return command
            command.status = response.status_code
            command.outcome = Outcome.ACCEPTED if response.is_success else Outcome.REJECTED
            return command

    async def close(self) -> None:
        await self.client.aclose()
