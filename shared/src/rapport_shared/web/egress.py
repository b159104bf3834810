"""Where the suite may send requests that its users aim (webhooks): the address rules.

A target must be https and must not be, or resolve to, an address inside the operator's network
or the host's: loopback, private (RFC 1918, carrier-grade NAT, unique local), link-local,
multicast, unspecified, reserved or documentation ranges, and cloud metadata endpoints, in IPv4
and IPv6 alike, including IPv6 forms that carry an IPv4 address (`::ffff:127.0.0.1`, NAT64,
6to4) and the old numeric spellings of IPv4 (`2130706433`, `0x7f.1`, `0177.0.0.1`). A name
must be a valid DNS name (an internationalised one in its ASCII form, `xn--...`). An operator
allows named hosts (`host[:port]`, plain http and internal addresses included) with an allow
list: the suite's own receivers, a test server.

Pure: parsing a URL, judging addresses. Resolving names and connecting to a checked address are
rapport_shared.web.egress_http's.
"""

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressRefused(ValueError):
    """A target the suite does not send to; the message says why, for whoever set it."""


def _networks(
    *rows: tuple[str, str],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(network), reason) for network, reason in rows)


# First match wins: the metadata endpoints before the ranges around them. Anything these miss
# that Python does not consider globally reachable is refused as reserved as well.
_IPV4_REFUSED = _networks(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.100.100.200/32", "cloud metadata"),  # Alibaba Cloud
    ("100.64.0.0/10", "private"),  # shared address space (carrier-grade NAT)
    ("127.0.0.0/8", "loopback"),
    ("169.254.169.254/32", "cloud metadata"),  # AWS, GCP, Azure, OpenStack, ...
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments (Oracle Cloud's metadata .192)
    ("192.0.2.0/24", "reserved"),  # documentation
    ("192.88.99.0/24", "reserved"),  # 6to4 relay anycast
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),  # benchmarking
    ("198.51.100.0/24", "reserved"),  # documentation
    ("203.0.113.0/24", "reserved"),  # documentation
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # and the broadcast address
)
_IPV6_REFUSED = _networks(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "reserved"),  # IPv4-compatible (deprecated)
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("100::/64", "reserved"),  # discard-only
    ("2001:db8::/32", "reserved"),  # documentation
    ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo among them
    ("fd00:ec2::254/128", "cloud metadata"),  # AWS
    ("fc00::/7", "private"),  # unique local
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),  # site-local (deprecated)
    ("ff00::/8", "multicast"),
)
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Letters, digits, hyphens (not at either end) and underscores, labels of 1-63, 253 in all; an
# internationalised name in its ASCII (punycode) form.
_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
)
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_OCTAL = re.compile(r"0[0-7]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")

# Names that mean this host whatever DNS says (RFC 6761), and a metadata service's name.
_LOCAL_NAMES = ("localhost", "metadata.google.internal")


def refusal(address: IPAddress) -> str | None:
    """Why the suite does not send to this address ("loopback", "private", ...), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return refusal(embedded)
        if address not in _GLOBAL_UNICAST:
            return next((r for net, r in _IPV6_REFUSED if address in net), "reserved")
    for network, reason in _IPV4_REFUSED if address.version == 4 else _IPV6_REFUSED:
        if address in network:
            return reason
    return None if address.is_global else "reserved"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped (::ffff:a.b.c.d), NAT64's well-known
    prefix, or 6to4. A connection to it reaches that IPv4 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


@dataclass(frozen=True)
class Target:
    """A URL the rules accept so far: its host normalised (lower case, no trailing dot, an IP
    address in its canonical form), its port, and its address when the host is one."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress | None
    allow_listed: bool


@dataclass(frozen=True)
class AllowList:
    """Hosts an operator allows whatever their address and scheme: `host` (any port) or
    `host:port`, IPv6 as `[::1]:8080`."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def parse(cls, setting: str) -> "AllowList":
        """From a comma-separated setting; ValueError names an entry that is not host[:port]."""
        entries = set()
        for raw in setting.split(","):
            entry = raw.strip()
            if not entry:
                continue
            try:
                parts = urlsplit(f"//{entry}")
                host, port = parts.hostname, parts.port
            except ValueError:
                host = None
            if not host or parts.path or parts.query or parts.fragment or parts.username:
                raise ValueError(f"not host[:port]: {entry!r}")
            entries.add((_normal_host(host), port))
        return cls(frozenset(entries))

    def allows(self, host: str, port: int) -> bool:
        return (host, None) in self.entries or (host, port) in self.entries


def target(url: str, allowed: AllowList) -> Target:
    """The URL's target, or EgressRefused: not http(s), credentials in it, plain http or a
    refused address (an IP literal in any spelling, or a local name) unless allow-listed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressRefused("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise EgressRefused("must be an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("must not carry credentials")
    if not parts.hostname:
        raise EgressRefused("must name a host")
    host = _normal_host(parts.hostname)
    address = _address(host)
    if address is not None:
        host = str(address)
    port = port if port is not None else DEFAULT_PORTS[scheme]
    allow_listed = allowed.allows(host, port)
    if not allow_listed:
        if scheme != "https":
            raise EgressRefused("must be https")
        if address is not None and (reason := refusal(address)) is not None:
            raise EgressRefused(f"must not point to {_an(reason)} address")
        if any(host == name or host.endswith(f".{name}") for name in _LOCAL_NAMES):
            raise EgressRefused(f"must not point to {host}")
    return Target(url, scheme, host, port, address, allow_listed)


def check_addresses(checked: Target, addresses: Iterable[str]) -> list[IPAddress]:
    """What the target's host resolved to, each checked: all of them must be allowed (a name
    with one internal address among public ones is refused; which one a connection would take
    is not ours to predict). EgressRefused when one is not, or when there are none."""
    parsed = [ipaddress.ip_address(address.partition("%")[0]) for address in addresses]
    if not parsed:
        raise EgressRefused(f"{checked.host} does not resolve")
    if not checked.allow_listed:
        for address in parsed:
            if (reason := refusal(address)) is not None:
                raise EgressRefused(f"{checked.host} resolves to {_an(reason)} address")
    return list(dict.fromkeys(parsed))


def _an(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _normal_host(host: str) -> str:
    return host.lower().removesuffix(".")


def _address(host: str) -> IPAddress | None:
    """The IP address a host is, in any spelling a resolver accepts; None for a name (which
    must be a valid DNS name: nothing else reaches a resolver)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    address = _legacy_ipv4(host)
    if address is None and not _DNS_NAME.fullmatch(host):
        raise EgressRefused("must name a valid host")
    return address


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """IPv4 as inet_aton and the WHATWG URL standard read it: one to four parts, each decimal,
    octal (leading 0) or hex (0x), the last filling the remaining bytes (`127.1`, `2130706433`,
    `0x7f.0.0.1`). None when the host is a name; EgressRefused when it ends in a number but is
    not a valid address (the URL standard refuses those too)."""
    parts = host.split(".")
    numbers = [_number(part) for part in parts]
    if numbers[-1] is None:
        return None
    if None in numbers or len(parts) > 4:
        raise EgressRefused("not a valid IPv4 address")
    *leading, last = (n for n in numbers if n is not None)
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        raise EgressRefused("not a valid IPv4 address")
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int | None:
    """A part of a numeric IPv4 spelling, or None when it is not one (int() alone would take
    underscores and spaces)."""
    if _HEX.fullmatch(part):
        return int(part[2:] or "0", 16)
    if _OCTAL.fullmatch(part):
        return int(part, 8)
    if _DECIMAL.fullmatch(part):
        return int(part, 10)
    return None
