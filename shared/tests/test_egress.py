"""The egress rules (pure): which URLs and addresses the suite sends to."""

import ipaddress

import pytest

from rapport_shared.web.egress import AllowList, EgressRefused, check_addresses, refusal, target

NOBODY = AllowList()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.255.1", "private"),
        ("192.168.0.10", "private"),
        ("100.64.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("192.0.0.192", "reserved"),
        ("2001:db8::1", "reserved"),
        ("2001::1", "reserved"),  # Teredo
        ("4000::1", "reserved"),  # outside global unicast
        ("::127.0.0.1", "reserved"),  # IPv4-compatible
        # IPv6 forms that reach an IPv4 address are judged by it.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:c0a8:1::1", "private"),  # 6to4 of 192.168.0.1
    ],
)
def test_internal_addresses_are_refused_with_their_kind(address, reason):
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::6810:84e5", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.org/x", "must be https"),
        ("ftp://hooks.example.org/x", "must be an http(s) URL"),
        ("https://user:pw@hooks.example.org/x", "must not carry credentials"),
        ("https:///x", "must name a host"),
        ("https://hooks.example.org:99999/x", "not a valid URL"),
        ("https://127.0.0.1/x", "must not point to a loopback address"),
        ("https://[::1]:8443/x", "must not point to a loopback address"),
        ("https://[::ffff:7f00:1]/x", "must not point to a loopback address"),
        ("https://169.254.169.254/latest", "must not point to a cloud metadata address"),
        ("https://0.0.0.0/", "must not point to an unspecified address"),
        # The numeric spellings resolvers accept for 127.0.0.1 and 10.0.0.1.
        ("https://2130706433/x", "must not point to a loopback address"),
        ("https://0x7f000001/x", "must not point to a loopback address"),
        ("https://0x7f.1/x", "must not point to a loopback address"),
        ("https://0177.0.0.1/x", "must not point to a loopback address"),
        ("https://127.1/x", "must not point to a loopback address"),
        ("https://10.1/x", "must not point to a private address"),
        ("https://2130706433./x", "must not point to a loopback address"),
        ("https://1.2.3.4.5/x", "not a valid IPv4 address"),
        ("https://256.1.1.1/x", "not a valid IPv4 address"),
        ("https://1_0.0.0.1/x", "not a valid IPv4 address"),
        ("https://localhost/x", "must not point to localhost"),
        ("https://LocalHost./x", "must not point to localhost"),
        ("https://api.localhost/x", "must not point to api.localhost"),
        ("https://metadata.google.internal/x", "must not point to metadata.google.internal"),
        ("https://[fe80::1%25eth0]/x", "must not point to a link-local address"),
        # Only a valid DNS name goes to a resolver.
        ("https://a..b/x", "must name a valid host"),
        ("https://exa mple.org/x", "must name a valid host"),
        ("https://ex%41mple.org/x", "must name a valid host"),
        ("https://" + "a" * 64 + ".org/x", "must name a valid host"),
        ("https://" + "a." * 127 + "org/x", "must name a valid host"),
        ("https://hooks-.example.org/x", "must name a valid host"),
        ("https://bücher.example/x", "must name a valid host"),  # punycode: xn--bcher-kva
    ],
)
def test_urls_that_are_not_https_to_a_public_host_are_refused(url, message):
    with pytest.raises(EgressRefused) as refused:
        target(url, NOBODY)
    assert str(refused.value) == message


def test_a_public_url_is_parsed_with_its_normalised_host_and_port():
    assert target("https://Hooks.Example.ORG./rapport", NOBODY).host == "hooks.example.org"
    assert target("https://hooks.example.org/r", NOBODY).port == 443
    numeric = target("https://134744072:8443/r", NOBODY)  # 8.8.8.8
    assert (numeric.host, numeric.port, str(numeric.address)) == ("8.8.8.8", 8443, "8.8.8.8")
    assert target("https://[2606:4700::1]/r", NOBODY).host == "2606:4700::1"
    assert target("https://xn--bcher-kva.example/r", NOBODY).host == "xn--bcher-kva.example"
    assert target("https://_hooks.my_org.example/r", NOBODY).host == "_hooks.my_org.example"


def test_the_allow_list_admits_named_hosts_over_http_and_at_internal_addresses():
    allowed = AllowList.parse(" receiver.local:8080, 127.0.0.1 ,[::1]:9000,, ")
    assert target("http://receiver.local:8080/x", allowed).allow_listed
    assert target("http://RECEIVER.local.:8080/x", allowed).allow_listed
    assert target("http://127.0.0.1:1234/x", allowed).allow_listed  # any port
    assert target("http://[::1]:9000/x", allowed).allow_listed
    assert target("http://2130706433:5000/x", allowed).allow_listed  # 127.0.0.1, any port
    for other in ("http://receiver.local:8081/x", "http://[::1]:9001/x"):
        with pytest.raises(EgressRefused, match="must be https"):
            target(other, allowed)
    with pytest.raises(EgressRefused, match="loopback"):
        target("https://[::1]:9001/x", allowed)


@pytest.mark.parametrize("entry", ["http://receiver.local", "receiver.local/x", "host:port", "a@b"])
def test_an_allow_list_entry_that_is_not_host_and_port_is_refused(entry):
    with pytest.raises(ValueError, match="not host\\[:port\\]"):
        AllowList.parse(f"ok.local, {entry}")


def test_every_resolved_address_must_be_allowed():
    public = target("https://hooks.example.org/x", NOBODY)
    assert [str(a) for a in check_addresses(public, ["93.184.215.14", "2606:4700::1"])] == [
        "93.184.215.14",
        "2606:4700::1",
    ]
    # One internal address among public ones is enough to refuse: which one a connection
    # would use is not predictable.
    with pytest.raises(EgressRefused, match="hooks.example.org resolves to a private address"):
        check_addresses(public, ["93.184.215.14", "10.0.0.5"])
    with pytest.raises(EgressRefused, match="resolves to a loopback address"):
        check_addresses(public, ["::ffff:127.0.0.1"])
    with pytest.raises(EgressRefused, match="does not resolve"):
        check_addresses(public, [])
    listed = target("http://receiver.local/x", AllowList.parse("receiver.local"))
    assert [str(a) for a in check_addresses(listed, ["10.0.0.5"])] == ["10.0.0.5"]
