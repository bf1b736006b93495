"""The simulated Cymru DNS server itself, exercised with dnspython over UDP and TCP on loopback."""

from __future__ import annotations

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import dns.reversename
import pytest

from monitor.sim.dns import CymruDNS


@pytest.fixture
def cymru():
    server = CymruDNS()
    server.start()
    yield server
    server.stop()


def ask(
    server: CymruDNS, name: str, rdtype: str = "TXT", *, tcp: bool = False, timeout: float = 2.0
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, server.host, port=server.port, timeout=timeout)


def texts(response: dns.message.Message) -> list[str]:
    return [b"".join(rd.strings).decode() for rrset in response.answer for rd in rrset]


def test_ipv4_origin_most_specific_prefix(cymru):
    cymru.announce("198.18.0.0/15", [64500])
    cymru.announce("198.18.5.0/24", [64501, 64502], cc="DE", allocated="2015-03-04")
    assert texts(ask(cymru, "7.9.19.198.origin.asn.cymru.com")) == [
        "64500 | 198.18.0.0/15 | NL | ripencc | 2010-01-01"
    ]
    assert texts(ask(cymru, "9.5.18.198.origin.asn.cymru.com")) == [
        "64501 64502 | 198.18.5.0/24 | DE | ripencc | 2015-03-04"
    ]
    cymru.withdraw("198.18.5.0/24")
    assert texts(ask(cymru, "9.5.18.198.origin.asn.cymru.com"))[0].startswith("64500 |")


def test_not_announced_is_nxdomain(cymru):
    cymru.announce("198.18.0.0/24", [64500])
    response = ask(cymru, "1.1.19.198.origin.asn.cymru.com")
    assert response.rcode() == dns.rcode.NXDOMAIN and texts(response) == []


def test_ipv6_nibbles_and_tcp(cymru):
    cymru.announce("2001:db8:100::/48", [64510])
    name = dns.reversename.from_address("2001:db8:100::42").to_text()
    name = name.replace("ip6.arpa.", "origin6.asn.cymru.com")
    for tcp in (False, True):
        assert texts(ask(cymru, name, tcp=tcp)) == [
            "64510 | 2001:db8:100::/48 | NL | ripencc | 2010-01-01"
        ]
    other = dns.reversename.from_address("2001:db8:200::1").to_text()
    response = ask(cymru, other.replace("ip6.arpa.", "origin6.asn.cymru.com"))
    assert response.rcode() == dns.rcode.NXDOMAIN


def test_as_name_and_unknown_asn(cymru):
    cymru.name_asn(64500, "EXAMPLE-AS Example Hosting, NL")
    assert texts(ask(cymru, "AS64500.asn.cymru.com")) == [
        "64500 | NL | ripencc | 2010-01-01 | EXAMPLE-AS Example Hosting, NL"
    ]
    assert ask(cymru, "AS64999.asn.cymru.com").rcode() == dns.rcode.NXDOMAIN


def test_hosts_gone_raw_and_queries_recorded(cymru):
    cymru.add_host("shop.example", ["127.0.1.5", "::1"])
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [cymru.host]
    resolver.port = cymru.port
    assert [r.address for r in resolver.resolve("shop.example", "A")] == ["127.0.1.5"]
    assert [r.address for r in resolver.resolve("shop.example", "AAAA")] == ["::1"]
    cymru.gone("example")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("shop.example", "A")
    cymru.set_raw_txt("4.3.2.1.origin.asn.cymru.com", "garbage without pipes")
    assert texts(ask(cymru, "4.3.2.1.Origin.ASN.cymru.com")) == ["garbage without pipes"]
    assert ("shop.example", "AAAA") in cymru.queries
    assert cymru.queries[-1] == ("4.3.2.1.origin.asn.cymru.com", "TXT")


def test_fail_next_gives_servfail_then_answers(cymru):
    cymru.announce("198.18.0.0/24", [64500])
    cymru.fail_next("1.0.18.198.origin.asn.cymru.com", times=1)
    assert ask(cymru, "1.0.18.198.origin.asn.cymru.com").rcode() == dns.rcode.SERVFAIL
    assert texts(ask(cymru, "1.0.18.198.origin.asn.cymru.com"))


def test_silent_never_answers_but_counts(cymru):
    cymru.silent = True
    with pytest.raises(dns.exception.Timeout):
        ask(cymru, "1.0.18.198.origin.asn.cymru.com", timeout=0.3)
    assert cymru.queries == [("1.0.18.198.origin.asn.cymru.com", "TXT")]
    cymru.silent = False
    assert ask(cymru, "1.0.18.198.origin.asn.cymru.com").rcode() == dns.rcode.NXDOMAIN


def test_custom_zones_and_many_servers_start_and_stop():
    servers = [CymruDNS(origin_zone="o.test", asname_zone="a.test") for _ in range(5)]
    for server in servers:
        server.start()
    try:
        assert len({s.port for s in servers}) == 5
        servers[0].announce("198.18.0.0/16", [64500])
        assert texts(ask(servers[0], "1.0.18.198.o.test"))
    finally:
        for server in servers:
            server.stop()
