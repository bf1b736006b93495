"""The world announced in the sim DNS: Cymru TXT per hoster address, hostnames that go away."""

from __future__ import annotations

import dns.resolver
import pytest

from monitor.sim.plan import phase_at


def resolver(server) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [server.host]
    res.port = server.port
    res.lifetime = 2
    return res


def txt(res, name) -> str:
    return b"".join(res.resolve(name, "TXT")[0].strings).decode()


def test_hoster_addresses_map_to_their_asn(sim_world_dns):
    res = resolver(sim_world_dns.dns)
    for h in sim_world_dns.scenario.hosters:
        reversed_ip = ".".join(reversed(h.ip.split(".")))
        answer = txt(res, f"{reversed_ip}.origin.asn.cymru.com")
        assert answer.split("|")[0].strip() == str(h.asn)
        assert h.country in answer
    owner = sim_world_dns.scenario.hosters[0]
    assert owner.as_name in txt(res, f"AS{owner.asn}.asn.cymru.com")


def test_ipv6_hoster_is_announced(sim_world_dns):
    if not sim_world_dns.ipv6:
        pytest.skip("no IPv6 loopback")
    hoster = next(h for h in sim_world_dns.scenario.hosters if h.ipv6)
    name = ".".join(["1"] + ["0"] * 31) + ".origin6.asn.cymru.com"
    assert txt(resolver(sim_world_dns.dns), name).split("|")[0].strip() == str(hoster.asn)


def test_dns_gone_hostnames_follow_the_clock(sim_world_dns):
    items = [i for i in sim_world_dns.plan.items if i.hostname]
    assert items
    item = items[0]
    res = resolver(sim_world_dns.dns)
    ip = sim_world_dns.sites[item.hoster].hoster.ip
    assert [r.address for r in res.resolve(item.hostname, "A")] == [ip]
    sim_world_dns.set_now(item.removal_at)
    assert phase_at(item, sim_world_dns.now) == "dns_gone"
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve(item.hostname, "A")
    sim_world_dns.set_now(sim_world_dns.scenario.start)
    assert [r.address for r in res.resolve(item.hostname, "A")] == [ip]
