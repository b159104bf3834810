"""The audited client address: forwarded headers are believed from configured proxies only, and
read from the right (the end the proxies wrote)."""

import pytest
from pydantic import ValidationError

from rapport_shared.runtime.settings import ServiceSettings
from rapport_shared.web.forwarded import client_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.1, fd00::/8")


def address(peer: str | None, xff: str | None = None, forwarded: str | None = None) -> str | None:
    return client_address(peer, [forwarded] if forwarded else [], [xff] if xff else [], PROXIES)


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert address("203.0.113.5", xff="198.51.100.1") == "203.0.113.5"
    assert address("203.0.113.5", forwarded="for=198.51.100.1") == "203.0.113.5"
    # No proxies configured (the default): nobody's headers are believed, a local caller's neither.
    assert client_address("127.0.0.1", ["for=198.51.100.1"], ["198.51.100.1"], ()) == "127.0.0.1"


@pytest.mark.parametrize(
    ("xff", "client"),
    [
        ("198.51.100.1", "198.51.100.1"),
        # The caller's own entries (left of the first untrusted address) are not believed.
        ("6.6.6.6, 198.51.100.1, 10.0.0.7", "198.51.100.1"),
        ("6.6.6.6,198.51.100.1,10.0.0.7,192.0.2.1", "198.51.100.1"),
        # Every hop a trusted proxy: the left-most is as far as the chain goes.
        ("10.0.0.9, 10.0.0.7", "10.0.0.9"),
        # Not an address: the walk ends at the last trusted hop.
        ("198.51.100.1, unknown", "192.0.2.1"),
        ("198.51.100.1, garbage, 10.0.0.7", "10.0.0.7"),
        ("", "192.0.2.1"),
        # Ports and IPv6 forms proxies write.
        ("198.51.100.1:4711", "198.51.100.1"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_a_trusted_proxys_chain_names_the_right_most_untrusted_hop(xff: str, client: str) -> None:
    assert address("192.0.2.1", xff=xff) == client


def test_the_forwarded_header_is_read_like_the_chain_and_wins_over_x_forwarded_for() -> None:
    assert address("10.0.0.1", forwarded='for=6.6.6.6, for="[2001:db8::9]:80";proto=https') == (
        "2001:db8::9"
    )
    assert address("10.0.0.1", forwarded='For="198.51.100.1:80", for=10.0.0.3') == "198.51.100.1"
    both = address("10.0.0.1", xff="6.6.6.6", forwarded="for=198.51.100.1")
    assert both == "198.51.100.1"
    # Obfuscated or missing nodes are not addresses.
    assert address("10.0.0.1", forwarded="for=_hidden") == "10.0.0.1"
    assert address("10.0.0.1", forwarded="proto=https") == "10.0.0.1"
    # A quoted comma does not split an element.
    assert address("10.0.0.1", forwarded='for="198.51.100.1";x="a,b"') == "198.51.100.1"


def test_several_header_lines_are_one_chain() -> None:
    lines = ["6.6.6.6, 198.51.100.1", "10.0.0.2"]
    assert client_address("10.0.0.1", [], lines, PROXIES) == "198.51.100.1"


def test_a_dual_stack_peer_is_matched_as_ipv4() -> None:
    assert address("::ffff:10.0.0.1", xff="198.51.100.1") == "198.51.100.1"
    assert address("fd00::1", xff="198.51.100.1") == "198.51.100.1"


def test_the_peer_is_kept_as_given_when_it_is_no_address() -> None:
    assert address(None, xff="198.51.100.1") is None
    assert address("testclient", xff="198.51.100.1") == "testclient"


def test_the_setting_is_checked_at_startup() -> None:
    assert ServiceSettings(trusted_proxies="").trusted_proxy_networks() == ()
    assert len(ServiceSettings(trusted_proxies=" 10.0.0.0/8 ,::1").trusted_proxy_networks()) == 2
    with pytest.raises(ValidationError, match="not-a-network"):
        ServiceSettings(trusted_proxies="10.0.0.0/8, not-a-network")
