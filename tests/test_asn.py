"""ASN lookup against the simulated Cymru DNS server on loopback; queries counted server-side."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from monitor.attribution import asn
from monitor.attribution.dns import RoutingTableBackend
from monitor.core.config import AsnConfig
from monitor.sim.dns import CymruDNS
from monitor.store import connect

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def cymru():
    server = CymruDNS()
    server.start()
    server.announce("198.18.0.0/24", [64500])
    server.announce("198.18.1.0/24", [64501, 64502], cc="DE", allocated="2012-05-06")
    server.announce("198.19.0.0/16", [64503])
    server.announce("2001:db8:100::/48", [64510])
    server.name_asn(64500, "EXAMPLE-AS Example Hosting, NL")
    server.name_asn(64501, "MULTI-AS Multi Origin, DE", cc="DE")
    server.name_asn(64510, "V6-AS Six Hosting, NL")
    yield server
    server.stop()


@pytest.fixture
def db(tmp_path):
    return connect(tmp_path / "asn.db")


def conf(server: CymruDNS, **changes) -> AsnConfig:
    values = {"nameservers": (server.address,), "timeout": timedelta(seconds=1)} | changes
    return AsnConfig(**values)


def origin_queries(server: CymruDNS) -> list[str]:
    return [name for name, kind in server.queries if ".origin" in name and kind == "TXT"]


async def test_ipv4_ipv6_and_names(cymru, db):
    result = await asn.lookup(["198.18.0.7", "2001:db8:100::5"], db, conf(cymru), now=NOW)
    v4, v6 = result["198.18.0.7"], result["2001:db8:100::5"]
    assert (v4.asn, v4.asns, v4.prefix, v4.country, v4.registry, v4.allocated) == (
        64500,
        (64500,),
        "198.18.0.0/24",
        "NL",
        "ripencc",
        "2010-01-01",
    )
    assert v4.as_name == "EXAMPLE-AS Example Hosting, NL" and v4.announced
    assert (v6.asn, v6.prefix, v6.as_name) == (64510, "2001:db8:100::/48", "V6-AS Six Hosting, NL")
    assert v6.ip == "2001:db8:100::5"


async def test_multi_origin_keeps_all_first_is_primary(cymru, db):
    info = (await asn.lookup(["198.18.1.1"], db, conf(cymru), now=NOW))["198.18.1.1"]
    assert info.asn == 64501 and info.asns == (64501, 64502)
    assert info.country == "DE" and info.allocated == "2012-05-06"


async def test_not_announced_is_cached_for_its_slash24(cymru, db):
    config = conf(cymru)
    first = await asn.lookup(["203.0.113.9"], db, config, now=NOW)
    assert first["203.0.113.9"].announced is False
    assert first["203.0.113.9"].asn is None and first["203.0.113.9"].prefix == "203.0.113.0/24"
    before = len(cymru.queries)
    again = await asn.lookup(["203.0.113.200"], db, config, now=NOW)
    assert again["203.0.113.200"].announced is False
    assert len(cymru.queries) == before
    row = db["asn_cache"].get("203.0.113.0/24")
    assert row["status"] == "not_announced"


async def test_cache_hits_cost_no_queries_and_expire(cymru, db):
    config = conf(cymru, cache_ttl=timedelta(hours=1))
    ips = [f"198.18.0.{i}" for i in range(1, 40)] + [f"198.19.{i}.1" for i in range(30)]
    await asn.lookup(ips, db, config, now=NOW)
    # one origin question per prefix (2), one name question per ASN (64500, 64503)
    assert len(origin_queries(cymru)) == 2
    assert len(cymru.queries) == 4
    cymru.queries.clear()
    again = await asn.lookup(
        ["198.18.0.99", "198.19.200.3"], db, config, now=NOW + timedelta(minutes=59)
    )
    assert cymru.queries == []
    assert again["198.19.200.3"].asn == 64503 and again["198.19.200.3"].prefix == "198.19.0.0/16"
    later = await asn.lookup(["198.18.0.99"], db, config, now=NOW + timedelta(hours=2))
    assert later["198.18.0.99"].asn == 64500
    assert [k for _, k in cymru.queries] == ["TXT", "TXT"]  # origin and name asked again


async def test_batch_learns_prefixes_without_repeating(cymru, db):
    for third in range(16):
        cymru.announce(f"198.18.{16 + third}.0/24", [64600 + third])
    ips = [f"198.18.{16 + t}.{h}" for t in range(16) for h in range(1, 21)]
    result = await asn.lookup(ips, None, conf(cymru), now=NOW)
    assert {result[ip].asn for ip in ips} == {64600 + t for t in range(16)}
    assert len(origin_queries(cymru)) == 16


async def test_more_specific_prefix_inside_a_covering_one(cymru, db):
    cymru.announce("198.19.5.0/24", [64999])
    result = await asn.lookup(["198.19.5.1", "198.19.5.2", "198.19.9.9"], db, conf(cymru), now=NOW)
    assert result["198.19.5.2"].asn == 64999 and result["198.19.5.2"].prefix == "198.19.5.0/24"
    assert result["198.19.9.9"].asn == 64503


async def test_silent_server_leaves_unresolved_and_gives_up_quickly(cymru, db):
    cymru.silent = True
    config = conf(cymru, timeout=timedelta(seconds=0.2))
    ips = [f"198.19.{i}.1" for i in range(0, 250, 2)]
    result = await asn.lookup(ips, db, config, now=NOW)
    assert all(value is None for value in result.values())
    assert len(cymru.queries) < 60  # the circuit breaker, not one timeout per IP
    assert db["asn_cache"].count == 0


async def test_servfail_is_retried(cymru, db):
    cymru.fail_next("7.0.18.198.origin.asn.cymru.com", times=1)
    info = (await asn.lookup(["198.18.0.7"], db, conf(cymru), now=NOW))["198.18.0.7"]
    assert info.asn == 64500
    assert origin_queries(cymru).count("7.0.18.198.origin.asn.cymru.com") == 2


async def test_malformed_record_logged_with_text_and_skipped(cymru, db, caplog):
    cymru.set_raw_txt("1.0.18.198.origin.asn.cymru.com", "not | a | record at all")
    with caplog.at_level(logging.WARNING, logger="monitor.attribution.asn"):
        result = await asn.lookup(["198.18.0.1", "198.19.0.1"], db, conf(cymru), now=NOW)
    assert result["198.18.0.1"] is None
    assert result["198.19.0.1"].asn == 64503
    assert "not | a | record at all" in caplog.text
    assert db["asn_cache"].count == 1


async def test_bad_ip_is_none(cymru, db):
    result = await asn.lookup(["not-an-ip", "198.18.0.1"], db, conf(cymru), now=NOW)
    assert result["not-an-ip"] is None and result["198.18.0.1"].asn == 64500


def test_pure_parsers_and_names():
    assert asn.origin_name("198.18.0.1", "o.z", "o6.z") == "1.0.18.198.o.z"
    assert asn.origin_name("2001:db8::1", "o.z", "o6.z").startswith("1.0.0.0.0.0.0.0.")
    assert asn.origin_name("2001:db8::1", "o.z", "o6.z").endswith("8.b.d.0.1.0.0.2.o6.z")
    record = asn.parse_origin("64500 64501 | 198.18.0.0/24 | NL | ripencc | ", "198.18.0.9")
    assert record.asns == (64500, 64501) and record.allocated is None
    with pytest.raises(asn.MalformedRecord):
        asn.parse_origin("64500 | 198.18.0.0/24 | NL", "198.19.0.1")
    with pytest.raises(asn.MalformedRecord):
        asn.parse_origin("AS?? | nowhere")
    name = asn.parse_asname("64500 | NL | ripencc | 2010-01-01 | A | B, NL", 64500)
    assert name.name == "A | B, NL" and name.country == "NL"
    assert asn.parse_nameserver("[::1]:5353") == ("::1", 5353)
    assert asn.parse_nameserver("127.0.0.1:53") == ("127.0.0.1", 53)


async def test_offline_routing_table_backend(tmp_path, db):
    table = tmp_path / "ipasn.dat"
    table.write_text(
        "; pyasn style\n198.18.0.0/15\t64500\n198.18.7.0/24 {64501,64502}\n"
        "2001:db8::/32 64510\nbroken line\n"
    )
    backend = RoutingTableBackend.from_file(table)
    result = await asn.lookup(
        ["198.19.1.1", "198.18.7.7", "2001:db8::9", "203.0.113.1"],
        db,
        AsnConfig(),
        now=NOW,
        backend=backend,
    )
    assert result["198.19.1.1"].asn == 64500
    assert result["198.18.7.7"].asns == (64501, 64502)
    assert result["2001:db8::9"].prefix == "2001:db8::/32"
    assert result["203.0.113.1"].announced is False
    assert db["asn_cache"].count == 0
