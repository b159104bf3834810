"""Which address a request came from, as the audit log records it.

A request's `Forwarded` (RFC 7239) and `X-Forwarded-For` headers are believed only when the
direct peer is a configured proxy (RAPPORT_TRUSTED_PROXIES): anyone else could write any address
there. Behind trusted proxies the chain is read from the right, the end the proxies appended to,
and the first address that is not itself a trusted proxy is the client; whatever lies further
left was written by that client and proves nothing. A hop that is not an address (`unknown`, an
obfuscated `_hidden`, garbage) ends the walk at the last trusted hop. Pure: the HTTP layer
passes in the peer and the headers.
"""

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(setting: str) -> tuple[IPNetwork, ...]:
    """'127.0.0.1, 10.0.0.0/8, fd00::/8' as networks (an address is a network of one).
    Raises ValueError naming the entry that is neither."""
    networks = []
    for entry in (part.strip() for part in setting.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (CIDR)") from None
    return tuple(networks)


def client_address(
    peer: str | None,
    forwarded: Sequence[str],
    x_forwarded_for: Sequence[str],
    trusted: Sequence[IPNetwork],
) -> str | None:
    """The client's address: the peer's own, unless the peer is a trusted proxy that forwarded
    one. forwarded and x_forwarded_for are every value of each header, in order; when both are
    sent, the standard `Forwarded` is read."""
    peer_ip = _address(peer) if peer is not None else None
    if peer_ip is None or not _trusted(peer_ip, trusted):
        return peer
    hops = _forwarded_for(forwarded) if forwarded else _listed(x_forwarded_for)
    client = peer_ip
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def _trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def _listed(values: Iterable[str]) -> list[str]:
    return [hop.strip() for value in values for hop in value.split(",")]


def _forwarded_for(values: Iterable[str]) -> list[str]:
    """The for= node of each element of Forwarded headers ('' for an element without one)."""
    hops = []
    for element in _split_outside_quotes(",".join(values), ","):
        node = ""
        for pair in _split_outside_quotes(element, ";"):
            name, _, value = pair.strip().partition("=")
            if name.strip().lower() == "for":
                node = value.strip().strip('"')
        hops.append(node)
    return hops


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _address(node: str) -> IPAddress | None:
    """The IP address of a node: '192.0.2.4', '192.0.2.4:4711', '[2001:db8::1]:4711',
    '2001:db8::1'; None for anything else."""
    node = node.strip()
    if node.startswith("["):
        host, closed, _ = node[1:].partition("]")
        node = host if closed else ""
    elif node.count(":") == 1:
        node = node.partition(":")[0]
    try:
        address = ipaddress.ip_address(node)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's form of an IPv4 peer
    return address
