"""monitor.core.netguard: the address policy, as a table. Pure address tests: nothing is
contacted."""

from __future__ import annotations

import ipaddress

import pytest

from monitor.core.netguard import (
    NetworkRefused,
    allow_network_problem,
    check_url_host,
    embedded_ipv4,
    refusal,
    resolve_and_check,
)

LOOPBACK = ("127.0.0.0/8", "::1/128")


def teredo(server: str, client: str) -> str:
    """A Teredo address (RFC 4380): prefix, server, flags/port, client XOR 0xffffffff."""
    value = (
        (0x20010000 << 96)
        | (int(ipaddress.IPv4Address(server)) << 64)
        | (0x800063BF << 32)
        | (int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF)
    )
    return str(ipaddress.IPv6Address(value))


# address, expected reason fragment (None: allowed)
TABLE = [
    ("100.64.0.1", "carrier-grade NAT 100.64.0.0/10"),
    ("192.0.0.8", "IPv4 dummy address"),
    ("192.0.0.9", "PCP anycast"),
    ("198.18.0.1", "benchmarking 198.18.0.0/15"),
    ("240.0.0.1", "reserved 240.0.0.0/4"),
    ("255.255.255.255", "limited broadcast"),
    ("0.0.0.0", "this network 0.0.0.0/8"),
    ("10.1.2.3", "private-use 10.0.0.0/8"),
    ("172.16.5.5", "private-use 172.16.0.0/12"),
    ("192.168.1.1", "private-use 192.168.0.0/16"),
    ("127.0.0.1", "loopback 127.0.0.0/8"),
    ("169.254.169.254", "link-local 169.254.0.0/16"),
    ("224.0.0.1", "multicast"),
    ("192.0.2.7", "documentation"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("2002:0a00:0001::1", "6to4 2002::/16 embedding 10.0.0.1: private-use"),
    ("2002:a9fe:a9fe::1", "embedding 169.254.169.254: link-local"),
    (teredo("65.54.227.120", "10.0.0.1"), "Teredo 2001::/32 embedding 10.0.0.1: private-use"),
    (teredo("10.0.0.1", "93.184.216.34"), "Teredo 2001::/32 embedding 10.0.0.1"),
    (teredo("65.54.227.120", "93.184.216.34"), None),  # public server and client
    ("64:ff9b::10.0.0.1", "NAT64 64:ff9b::/96 embedding 10.0.0.1: private-use"),
    ("64:ff9b::8.8.8.8", None),  # NAT64 of a public address: that public host
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("::ffff:169.254.169.254", "link-local 169.254.0.0/16"),
    ("::ffff:100.64.0.1", "carrier-grade NAT"),
    ("::10.0.0.1", "deprecated IPv4-compatible"),
    ("::", "unspecified"),
    ("::1", "loopback ::1/128"),
    ("fc00::1", "unique-local fc00::/7"),
    ("fd12:3456::1", "unique-local"),
    ("fe80::1", "link-local fe80::/10"),
    ("fe80::1%eth0", "not a plain IP address"),
    ("fec0::1", "outside 2000::/3"),
    ("ff02::1", "multicast ff00::/8"),
    ("2001:db8::1", "documentation 2001:db8::/32"),
    ("3fff::1", "documentation"),
    ("2001:2::1", "benchmarking"),
    ("100::1", "discard-only"),
    ("93.184.216.34", None),
    ("8.8.8.8", None),
    ("2606:4700::1111", None),
    ("2002:5db8:d822::1", None),  # 6to4 of a public address
    ("2001:4:112::1", None),  # AS112-v6: globally reachable per the registry
    ("not-an-ip", "not an IP address"),
]


@pytest.mark.parametrize("address,expected", TABLE)
def test_refusal_table(address, expected):
    reason = refusal(address)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason, reason


@pytest.mark.parametrize("address", ["100.64.0.1", "2002:a00:1::1", "64:ff9b::a00:1"])
def test_python_is_global_is_not_enough(address):
    """Why this module exists: Python's own view misses these (on some versions)."""
    assert refusal(address) is not None


def test_embedded_ipv4_forms():
    assert embedded_ipv4(ipaddress.IPv6Address("2002:a00:1::1")) == (
        "6to4 2002::/16",
        (ipaddress.IPv4Address("10.0.0.1"),),
    )
    form, inner = embedded_ipv4(ipaddress.IPv6Address(teredo("65.54.227.120", "10.0.0.1")))
    assert form.startswith("Teredo") and [str(a) for a in inner] == ["65.54.227.120", "10.0.0.1"]
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700::1111")) == ("", ())


def test_allow_networks_open_only_what_they_name():
    assert refusal("127.0.0.1", LOOPBACK) is None
    assert refusal("::1", LOOPBACK) is None
    assert refusal("::ffff:127.0.0.1", LOOPBACK) is None  # the same socket address
    assert refusal("10.0.0.1", LOOPBACK) is not None
    assert refusal("2002:7f00:1::1", LOOPBACK) is not None  # 6to4 of loopback is not loopback
    assert refusal("10.0.0.1", ("10.0.0.0/8",)) is None
    assert refusal("127.0.0.1", ["127.0.0.0/8"]) is None  # a list works as well
    assert refusal("127.0.0.1", ("garbage",)) is not None  # unreadable entries open nothing


@pytest.mark.parametrize(
    "allow",
    [
        ("169.254.0.0/16",),
        ("169.254.169.254/32",),
        ("0.0.0.0/0",),
        ("::/0",),
        ("fe80::/10",),
        ("0.0.0.0/1",),
    ],
)
def test_never_allowed_even_if_listed(allow):
    assert refusal("169.254.169.254", allow) is not None
    assert refusal("fe80::1", allow) is not None
    assert refusal("10.0.0.1", allow) is not None  # over-broad entries are ignored


@pytest.mark.parametrize(
    "entry,fragment",
    [
        ("169.254.0.0/16", "link-local"),
        ("169.254.169.254/32", "link-local"),
        ("fe80::/64", "link-local"),
        ("0.0.0.0/0", "over-broad"),
        ("::/0", "over-broad"),
        ("128.0.0.0/1", "over-broad"),
        ("::/8", "over-broad"),
        ("0.0.0.0/8", "this network"),
        ("224.0.0.0/8", "multicast"),
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("2002::/16", "6to4"),
        ("10.0.0.1/8", "host bits"),
        ("localhost", "not a network"),
        ("", "not a network"),
    ],
)
def test_allow_network_problems(entry, fragment):
    problem = allow_network_problem(entry)
    assert problem is not None and fragment in problem, problem


@pytest.mark.parametrize(
    "entry", ["127.0.0.0/8", "::1/128", "127.0.1.5/32", "10.0.0.0/8", "fd00:1234::/32"]
)
def test_allow_network_fine(entry):
    assert allow_network_problem(entry) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://100.64.0.1/x",
        "http://[2002:a00:1::1]/",
        "https://[::ffff:169.254.169.254]:8443/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http:///nohost",
    ],
)
def test_check_url_host_refuses(url):
    with pytest.raises(NetworkRefused):
        check_url_host(url)


def test_check_url_host_passes_names_and_public_literals():
    check_url_host("https://hooks.example/alerts")
    check_url_host("http://93.184.216.34/")
    check_url_host("http://[2606:4700::1111]:8080/")
    check_url_host("http://127.0.0.1:8080/", LOOPBACK)


async def test_resolve_and_check_uses_the_allow_list():
    assert await resolve_and_check("127.0.0.1", 80, LOOPBACK) == ("127.0.0.1",)
    with pytest.raises(NetworkRefused, match="loopback"):
        await resolve_and_check("127.0.0.1", 80)
    with pytest.raises(NetworkRefused, match="loopback"):
        await resolve_and_check("localhost", 80, timeout=5)  # /etc/hosts: no traffic
    assert set(await resolve_and_check("localhost", 80, LOOPBACK)) <= {"127.0.0.1", "::1"}
