"""Hoster attribution (prefix beats ASN, resellers, unmapped fallback) and resolve_pending."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from monitor import asn, hosters
from monitor.asn_records import AsnInfo
from monitor.config import AsnConfig, Config
from monitor.sim.dns import CymruDNS
from monitor.store import connect

T0 = "2026-01-01T00:00:00Z"


@pytest.fixture
def db(tmp_path):
    db = connect(tmp_path / "hosters.db")
    db["hosters"].insert_all([
        {"id": 1, "name": "Big Hosting", "country": "NL", "created_at": T0},
        {"id": 2, "name": "Tiny Reseller", "country": "NL", "created_at": T0},
        {"id": 3, "name": "Prefix Only", "country": "DE", "created_at": T0},
    ])
    db["hoster_networks"].insert_all([
        {"hoster_id": 1, "asn": 64500, "prefix": None},
        {"hoster_id": 2, "asn": 64500, "prefix": "198.18.8.0/24"},
        {"hoster_id": 3, "asn": None, "prefix": "2001:db8:100::/48"},
    ])
    return db


def info(ip, asn_, name=None, announced=True):
    return AsnInfo(ip, asn_, (asn_,) if asn_ else (), None, as_name=name, announced=announced)


def test_prefix_beats_asn_and_reseller_is_its_own_hoster(db):
    registry = hosters.Registry.load(db)
    assert registry.attribute("198.18.0.1", info("198.18.0.1", 64500)).name == "Big Hosting"
    reseller = registry.attribute("198.18.8.9", info("198.18.8.9", 64500))
    assert (reseller.id, reseller.name, reseller.unmapped) == (2, "Tiny Reseller", False)
    assert registry.attribute("2001:db8:100::1", None).name == "Prefix Only"
    assert registry.attribute("203.0.113.1", info("203.0.113.1", None, announced=False)) is None


def test_unmapped_asn_gets_a_flagged_hoster_once(db):
    registry = hosters.Registry.load(db)
    first = registry.attribute("198.51.100.1", info("198.51.100.1", 64777, "ODD-AS Odd Net, FR"))
    again = registry.attribute("198.51.100.2", info("198.51.100.2", 64777, "ODD-AS Odd Net, FR"))
    nameless = registry.attribute("198.51.100.3", info("198.51.100.3", 64778))
    assert first == again and first.unmapped and first.name == "ODD-AS Odd Net, FR"
    assert nameless.name == "AS64778" and nameless.unmapped
    clash = registry.attribute("198.51.100.4", info("198.51.100.4", 64779, "Big Hosting"))
    assert clash.name == "Big Hosting (AS64779)" and clash.id != 1
    reloaded = hosters.Registry.load(db)
    assert reloaded.attribute("198.51.100.9", info("198.51.100.9", 64777)).id == first.id
    assert db["hoster_networks"].count_where("asn = 64777 AND prefix IS NULL") == 1


def test_moves_counts_hoster_changes_between_online_checks():
    checks = [{"outcome": "online", "hoster_id": 1}, {"outcome": "removed", "hoster_id": 2},
              {"outcome": "online", "hoster_id": 1}, {"outcome": "online", "hoster_id": 2},
              {"outcome": "online", "hoster_id": None}, {"outcome": "online", "hoster_id": 1}]
    assert hosters.moves(checks) == 2
    assert hosters.moves([]) == 0


@pytest.fixture
def cymru():
    server = CymruDNS()
    server.start()
    server.announce("198.18.0.0/16", [64500])
    server.announce("198.51.100.0/24", [64777])
    server.name_asn(64500, "BIG-AS Big Hosting, NL")
    server.name_asn(64777, "ODD-AS Odd Net, FR", cc="FR")
    yield server
    server.stop()


def add_checks(db, rows):
    db["reports"].insert_all([
        {"id": i, "url": f"http://h{i}.test/x", "url_key": f"h{i}.test/x", "reported_at": T0,
         "noticed_at": T0, "imported_at": T0} for i in (1, 2, 3, 4)])
    db["checks"].insert_all([
        {"report_id": r, "due_at": f"2026-01-01T0{n}:00:00Z", "checked_at": T0, "outcome": o,
         "reason": "test", "ip": ip, **extra} for n, (r, o, ip, extra) in enumerate(rows)])


async def test_resolve_pending_fills_checks_and_keeps_history(db, cymru):
    add_checks(db, [
        (1, "online", "198.18.0.5", {}),
        (1, "online", "198.18.8.5", {}),                      # reseller prefix
        (2, "online", "198.51.100.7", {}),                    # unmapped ASN
        (3, "removed", "203.0.113.5", {}),                    # not announced
        (4, "online", "198.18.0.6", {"asn": 64999, "hoster_id": 3, "prefix": "x"}),  # kept
        (4, "unreachable", None, {}),
    ])
    config = Config(asn=AsnConfig(nameservers=(cymru.address,), timeout=timedelta(seconds=1)))
    stats = await asn.resolve_pending(db, config)
    assert (stats.checks, stats.resolved, stats.not_announced, stats.unresolved) == (4, 3, 1, 0)
    assert stats.report_ids == {1, 2, 3}
    rows = {r["ip"]: r for r in db.query("SELECT * FROM checks")}
    assert (rows["198.18.0.5"]["asn"], rows["198.18.0.5"]["hoster_id"]) == (64500, 1)
    assert json.loads(rows["198.18.0.5"]["asns"]) == [64500]
    assert rows["198.18.0.5"]["prefix"] == "198.18.0.0/16"
    assert rows["198.18.8.5"]["hoster_id"] == 2
    odd = db["hosters"].get(rows["198.51.100.7"]["hoster_id"])
    assert (odd["name"], odd["unmapped"]) == ("ODD-AS Odd Net, FR", 1)
    assert rows["203.0.113.5"]["asn"] is None and rows["203.0.113.5"]["asns"] == "[]"
    assert (rows["198.18.0.6"]["asn"], rows["198.18.0.6"]["hoster_id"]) == (64999, 3)
    before = len(cymru.queries)
    assert (await asn.resolve_pending(db, config)).checks == 0
    assert len(cymru.queries) == before

    volumes = {v.name: v for v in hosters.hoster_volumes(db)}
    assert volumes["Big Hosting"].checks == 1 and volumes["Big Hosting"].asns == (64500,)
    assert volumes["Tiny Reseller"].prefixes == ("198.18.8.0/24",)
    assert volumes["ODD-AS Odd Net, FR"].unmapped and volumes["ODD-AS Odd Net, FR"].checks == 1
    top = hosters.unmapped_asns(db)
    assert [(u.asn, u.name, u.checks) for u in top] == [(64777, "ODD-AS Odd Net, FR", 1)]


def test_resolve_pending_sync_leaves_failures_pending(db, cymru):
    add_checks(db, [(1, "online", "198.18.0.5", {})])
    cymru.silent = True
    config = Config(asn=AsnConfig(nameservers=(cymru.address,), timeout=timedelta(seconds=0.2)))
    stats = asn.resolve_pending_sync(db, config)
    assert (stats.checks, stats.unresolved, stats.report_ids) == (1, 1, frozenset())
    assert db.execute("SELECT asn, asns, hoster_id FROM checks").fetchone() == (None, None, None)
    cymru.silent = False
    stats = asn.resolve_pending_sync(db, config, limit=5)
    assert stats.resolved == 1 and stats.report_ids == {1}
