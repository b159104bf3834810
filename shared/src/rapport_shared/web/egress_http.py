"""Sending an HTTP request where rapport_shared.web.egress allows it.

A name is resolved once and every address it resolves to is checked; the request then goes to a
checked address itself, with the URL's host in the Host header and as the TLS server name (so
certificates are verified against the name). Resolving again at connect time would let a DNS
answer that changed in between (DNS rebinding) slip an internal address past the check.
Redirects are not followed and proxy settings from the environment are ignored: either would
send the request somewhere unchecked.
"""

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from rapport_shared.web.egress import AllowList, EgressRefused, IPAddress, Target, check_addresses
from rapport_shared.web.egress import target as parse_target


async def resolve(host: str, port: int, timeout: float) -> list[str]:
    """The addresses a name resolves to (none when it does not, or not in time)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):  # UnicodeError: a name IDNA cannot encode
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class Egress:
    """The rules as configured: the operator's allow list, and how long a request (and the name
    resolution before it) may take."""

    allowed: AllowList = field(default_factory=AllowList)
    timeout_seconds: float = 10.0
    # Certificate verification: True (the system's CAs) or a context trusting others.
    verify: ssl.SSLContext | bool = True

    async def vet(self, url: str, *, must_resolve: bool) -> tuple[Target, list[IPAddress]]:
        """The target and its checked addresses, or EgressRefused. A name that does not resolve
        is refused when must_resolve, else returned without addresses (when a URL is set: the
        name may not exist yet, and each request checks it again)."""
        target = parse_target(url, self.allowed)
        if target.address is not None:
            return target, [target.address]
        addresses = await resolve(target.host, target.port, self.timeout_seconds)
        if not addresses and not must_resolve:
            return target, []
        return target, check_addresses(target, addresses)

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST to the first checked address that takes the connection, all within
        timeout_seconds (resolving included). EgressRefused when the rules refuse the URL;
        httpx.HTTPError when no address answers in time."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                target, addresses = await self.vet(url, must_resolve=True)
                return await self._post(target, addresses, content, dict(headers))
        except TimeoutError:
            raise httpx.TimeoutException(f"no answer within {self.timeout_seconds} s") from None

    async def _post(
        self, target: Target, addresses: list[IPAddress], content: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        async with httpx.AsyncClient(
            timeout=self.timeout_seconds,
            follow_redirects=False,
            trust_env=False,
            verify=self.verify,
        ) as client:
            original = httpx.URL(target.url)
            pinned_headers = {**headers, "host": original.netloc.decode("ascii")}
            # A name is the TLS server name; an address is none (RFC 6066).
            by_name = target.scheme == "https" and target.address is None
            extensions = {"sni_hostname": target.host} if by_name else {}

            async def to(address: IPAddress) -> httpx.Response:
                return await client.post(
                    original.copy_with(host=str(address)),
                    content=content,
                    headers=pinned_headers,
                    extensions=extensions,
                )

            for address in addresses[:-1]:
                with contextlib.suppress(httpx.ConnectError):  # the next, as resolvers' users do
                    return await to(address)
            return await to(addresses[-1])


__all__ = ["Egress", "EgressRefused", "resolve"]
