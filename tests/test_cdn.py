"""CDN edges (issue 24): the registry, detection from headers and ASN, honest attribution."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from aiohttp import web
from click.testing import CliRunner
from PIL import Image, ImageDraw

from monitor import store
from monitor.attribution.asn import attribute_new_checks, resolve_pending
from monitor.attribution.cdn import CdnRegistry, import_cdns
from monitor.attribution.dns import RoutingTableBackend
from monitor.attribution.edge import edge_from_asn, edge_from_headers
from monitor.cli.main import cli
from monitor.core import clock
from monitor.core.config import Config
from monitor.intake.hosters import import_hosters
from monitor.intake.reports import import_reports
from monitor.runners.crawl import run_crawl
from monitor.store.cdns import DEFAULTS
from reports.build import build_report
from reports.render import render
from tests.crawl_helpers import crawl_config


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


# -- detection from headers (pure) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "edge"),
    [
        ({"CF-RAY": "8c1f2a3b4c5d6e7f-AMS", "Server": "cloudflare"}, "Cloudflare"),
        ({"server": "cloudflare"}, "Cloudflare"),
        ({"x-amz-cf-id": "abc==", "via": "1.1 x.cloudfront.net (CloudFront)"}, "Amazon CloudFront"),
        ({"X-Cache": "Hit from cloudfront"}, "Amazon CloudFront"),
        ({"X-Akamai-Transformed": "9 - 0 pmb=mRUM,1"}, "Akamai"),
        ({"Server": "AkamaiGHost"}, "Akamai"),
        ({"X-Served-By": "cache-ams21024-AMS, cache-fra1234-FRA"}, "Fastly"),
        ({"Fastly-Debug-Digest": "ab"}, "Fastly"),
        ({"X-Iinfo": "1-2-3"}, "Imperva"),
        ({"X-CDN": "Incapsula"}, "Imperva"),
        ({"x-sucuri-id": "1"}, "Sucuri"),
        # any cache, even the hoster's own: names nobody
        ({"Via": "1.1 varnish", "X-Cache": "HIT", "Server": "nginx"}, None),
        ({"X-Served-By": "web-3"}, None),
        ({}, None),
    ],
)
def test_edge_from_headers(headers, edge):
    assert edge_from_headers(headers) == edge
    raw = [(k.encode(), [v.encode()]) for k, v in headers.items()]  # as Scrapy has them
    assert edge_from_headers(raw) == edge


def test_edge_from_asn_prefix_then_asn():
    registry = CdnRegistry.of(DEFAULTS)
    assert edge_from_asn(13335, "104.16.1.1", registry) == "Cloudflare"
    assert edge_from_asn(20940, None, registry) == "Akamai"
    # CloudFront only by its prefixes: AWS hosting in the same AS16509 stays a hoster
    assert edge_from_asn(16509, "54.230.1.1", registry) == "Amazon CloudFront"
    assert edge_from_asn(16509, "3.120.0.1", registry) is None
    assert edge_from_asn(63949, "172.105.0.1", registry) is None  # Linode: hosting
    assert edge_from_asn(None, "not an ip", registry) is None


def test_defaults_list_no_shared_hosting_asn():
    asns = {row.asn for row in DEFAULTS if row.asn is not None}
    assert {13335, 20940, 16625, 54113} <= asns
    assert not asns & {16509, 14618, 63949, 15169, 8075}  # AWS, Linode, Google, Microsoft


# -- the registry: migration seed, import, list --------------------------------------------------


def test_migration_seeds_the_default_list(tmp_path):
    db = store.connect(tmp_path / "t.db")
    registry = CdnRegistry.load(db)
    assert registry.by_asn[13335] == "Cloudflare"
    assert registry.emails["Cloudflare"] == "abuse@cloudflare.com"
    assert "edge" in db["checks"].columns_dict and "cdn" in db["hosters"].columns_dict


def test_cdn_import_validates_like_hosters(tmp_path):
    db = store.connect(tmp_path / "t.db")
    path = tmp_path / "cdns.csv"
    path.write_text(
        "name,asn,prefix,abuse_email\n"
        "Edgy CDN,AS64511,,abuse@edgy.example\n"  # 2: good
        "Edgy CDN,,198.51.100.0/24,\n"  # 3: good, inherits the e-mail
        "Bad,AS６４５００,,\n"  # 4: not ASCII digits
        "Wide,,10.0.0.0/7,\n"  # 5: too wide
        "Ctl,64512,,abuse@x.example\x1b[31m\n"  # 6: control character
        "Both,64513,192.0.2.0/24,\n"  # 7: both
        "None,,,\n",
        encoding="utf-8",
    )  # 8: neither
    result = import_cdns(db, str(path))
    assert result.added == 2
    lines = {e.line: e.reason for e in result.errors}
    assert set(lines) == {4, 5, 6, 7, 8}
    assert str(result.errors[0]).startswith(f"{path}:4: asn")
    assert "too wide" in lines[5] and "control character" in lines[6]
    registry = CdnRegistry.load(db)
    assert edge_from_asn(64511, None, registry) == "Edgy CDN"
    assert edge_from_asn(None, "198.51.100.7", registry) == "Edgy CDN"
    assert registry.emails["Edgy CDN"] == "abuse@edgy.example"
    assert import_cdns(db, str(path)).added == 0  # again: nothing new


def test_cli_cdn_import_and_list(tmp_path):
    db_path = str(tmp_path / "t.db")
    path = tmp_path / "cdns.csv"
    path.write_text("name,asn,prefix,abuse_email\nEdgy CDN,64511,,abuse@edgy.example\nBad,xx,,\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", db_path, "cdn", "import", str(path)])
    assert result.exit_code == 2 and f"{path}:3: asn" in result.output
    result = runner.invoke(cli, ["--db", db_path, "cdn", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["Edgy CDN"]["asns"] == [64511] and rows["Cloudflare"]["asns"] == [13335]
    assert rows["Amazon CloudFront"]["asns"] == [] and rows["Amazon CloudFront"]["prefixes"]


# -- crawl: a loopback edge that sends cf-ray -------------------------------------------------


def _png() -> bytes:
    image = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(image).ellipse((10, 20, 80, 90), fill="navy")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def edge_server():
    """127.0.0.1: /cdn.png with Cloudflare's headers, /plain.png without any CDN header."""
    body = _png()

    async def cdn(_request: web.Request) -> web.Response:
        return web.Response(
            body=body,
            content_type="image/png",
            headers={"CF-RAY": "8c1f2a3b4c5d6e7f-AMS", "Server": "cloudflare"},
        )

    async def plain(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="image/png", headers={"Via": "1.1 varnish"})

    app = web.Application()
    app.router.add_get("/cdn.png", cdn)
    app.router.add_get("/plain.png", plain)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _crawled(tmp_path, base: str, extra_columns: str = "", extra: str = "") -> str:
    noticed = clock.parse("2026-02-01T00:00:00Z")
    clock.fix(noticed)
    (tmp_path / "r.csv").write_text(
        f"url,reference,reported_at{extra_columns}\n"
        f"{base}/cdn.png,case-cdn,{clock.iso(noticed)}{extra}\n"
        f"{base}/plain.png,case-plain,{clock.iso(noticed)}{',' if extra else ''}\n"
    )
    db_file = tmp_path / "t.db"
    db = store.connect(db_file)
    config = crawl_config()
    assert import_reports(db, tmp_path / "r.csv", config).bad == 0
    db.conn.close()
    clock.fix(noticed + timedelta(hours=1, minutes=1))
    assert (await run_crawl(db_file, config, resolve_asn=False)).written == 2
    return str(db_file)


def _backend(tmp_path, asn: int) -> RoutingTableBackend:
    table = tmp_path / "routes.txt"
    table.write_text(f"127.0.0.0/8 {asn}\n")
    return RoutingTableBackend.from_file(table)


def _attributed(db) -> dict[str, tuple]:
    return {
        r[0]: tuple(r[1:])
        for r in db.execute(
            "SELECT r.reference, c.edge, h.name, h.cdn, c.asn FROM checks c "
            "JOIN reports r ON r.id = c.report_id LEFT JOIN hosters h ON h.id = c.hoster_id"
        )
    }


async def test_crawl_stores_the_header_edge_and_attributes_origin_unknown(edge_server, tmp_path):
    db_file = await _crawled(tmp_path, edge_server)
    db = store.connect(db_file)
    edges = dict(
        db.execute("SELECT r.reference, c.edge FROM checks c JOIN reports r ON r.id = c.report_id")
    )
    assert edges == {"case-cdn": "Cloudflare", "case-plain": None}
    await resolve_pending(db, Config(), backend=_backend(tmp_path, 64500))
    got = _attributed(db)
    assert got["case-cdn"] == ("Cloudflare", "Cloudflare (origin unknown)", "Cloudflare", 64500)
    assert got["case-plain"] == (None, "AS64500", None, 64500)  # the unmapped fallback
    group = db.execute("SELECT abuse_email, unmapped FROM hosters WHERE cdn = 'Cloudflare'")
    assert group.fetchall() == [("abuse@cloudflare.com", 0)]


async def test_a_cdn_asn_is_an_edge_without_any_header(edge_server, tmp_path):
    db_file = await _crawled(tmp_path, edge_server)
    db = store.connect(db_file)
    await resolve_pending(db, Config(), backend=_backend(tmp_path, 54113))  # Fastly's ASN
    got = _attributed(db)
    assert got["case-plain"] == ("Fastly", "Fastly (origin unknown)", "Fastly", 54113)
    # the registry's ASN outranks the headers: the IP is Fastly's
    assert got["case-cdn"] == ("Fastly", "Fastly (origin unknown)", "Fastly", 54113)
    assert not db.execute(
        "SELECT 1 FROM hosters WHERE name LIKE '%54113%' OR name = 'AS54113'"
    ).fetchall()  # never an unmapped "hoster" for a CDN


async def test_forged_header_never_moves_a_curated_hosters_check(edge_server, tmp_path):
    db_file = await _crawled(tmp_path, edge_server)
    db = store.connect(db_file)
    (tmp_path / "h.csv").write_text("name,asn\nSneaky Hosting,64500\n")
    assert import_hosters(db, tmp_path / "h.csv").bad == 0
    await resolve_pending(db, Config(), backend=_backend(tmp_path, 64500))
    got = _attributed(db)
    assert got["case-cdn"] == ("Cloudflare", "Sneaky Hosting", None, 64500)


# -- origin known from the hotline's import ------------------------------------------------------


def _routes(tmp_path, text: str) -> RoutingTableBackend:
    table = tmp_path / "routes.txt"
    table.write_text(text)
    return RoutingTableBackend.from_file(table)


async def test_origin_hoster_from_the_import_gets_the_notice(edge_server, tmp_path):
    db = store.connect(tmp_path / "t.db")
    (tmp_path / "h.csv").write_text("name,asn\nOrigin Hosting,64501\n")
    assert import_hosters(db, tmp_path / "h.csv").bad == 0
    db.conn.close()
    db_file = await _crawled(tmp_path, edge_server, ",origin_hoster", ",Origin Hosting")
    db = store.connect(db_file)
    _routes(tmp_path, "127.0.0.0/8 13335\n")
    routes = str(tmp_path / "routes.txt")
    config = replace(Config(), asn=replace(Config().asn, routing_table=routes))
    await attribute_new_checks(db, config)  # the ASN stage, summaries refreshed
    got = _attributed(db)
    assert got["case-cdn"] == ("Cloudflare", "Origin Hosting", None, 13335)
    assert got["case-plain"] == ("Cloudflare", "Cloudflare (origin unknown)", "Cloudflare", 13335)
    notified = dict(
        db.execute(
            "SELECT r.reference, h.name FROM reports r "
            "JOIN hosters h ON h.id = r.notified_hoster_id"
        )
    )
    assert notified == {"case-cdn": "Origin Hosting", "case-plain": "Cloudflare (origin unknown)"}

    # the report: the CDN is a group of its own, never ranked; the hoster says "via CDN only"
    config = replace(config, report=replace(config.report, min_notices_for_rates=1))
    data = json.loads(render(build_report(db, config, now=clock.now()), "json"))
    groups = {g["hoster"]: g for g in data["groups"]}
    cdn_group = groups["Cloudflare (origin unknown)"]
    assert cdn_group["cdn"] is True and cdn_group["rank"] is None
    assert not cdn_group["too_few_to_rank"]  # unranked because it is a CDN, not for size
    origin = groups["Origin Hosting"]
    assert origin["cdn"] is False and origin["rank"] == 1 and origin["via_cdn_only"] == 1
    assert list(origin)[-3:] == ["orders", "cdn", "via_cdn_only"]  # appended: keys only grow


async def test_origin_ip_from_the_import_is_attributed_through_the_registry(edge_server, tmp_path):
    db = store.connect(tmp_path / "t.db")
    (tmp_path / "h.csv").write_text("name,asn\nOrigin Hosting,64501\n")
    assert import_hosters(db, tmp_path / "h.csv").bad == 0
    db.conn.close()
    db_file = await _crawled(tmp_path, edge_server, ",origin_ip", ",192.0.2.10")
    db = store.connect(db_file)
    backend = _routes(tmp_path, "127.0.0.0/8 13335\n192.0.2.0/24 64501\n")
    await resolve_pending(db, Config(), backend=backend)
    got = _attributed(db)
    assert got["case-cdn"] == ("Cloudflare", "Origin Hosting", None, 13335)
    assert got["case-plain"][1] == "Cloudflare (origin unknown)"


def test_import_refuses_unknown_or_cdn_origin_and_bad_origin_ip(tmp_path):
    clock.fix(clock.parse("2026-02-01T00:00:00Z"))
    db = store.connect(tmp_path / "t.db")
    db.execute(
        "INSERT INTO hosters (name, cdn, created_at) VALUES "
        "('Cloudflare (origin unknown)', 'Cloudflare', 't')"
    )
    (tmp_path / "r.csv").write_text(
        "url,origin_ip,origin_hoster\n"
        "http://a.example/1.jpg,192.0.2.1,\n"  # 2: good
        "http://a.example/2.jpg,,Nobody Hosting\n"  # 3: unknown hoster
        "http://a.example/3.jpg,,Cloudflare (origin unknown)\n"  # 4: a CDN group
        "http://a.example/4.jpg,192.0.2.300,\n"  # 5: not an IP
        "http://a.example/5.jpg,fe80::1%eth0,\n"
    )  # 6: zone id
    result = import_reports(db, tmp_path / "r.csv", Config())
    assert result.added == 1
    assert {e.line for e in result.errors} == {3, 4, 5, 6}
    assert db.execute("SELECT origin_ip FROM reports").fetchall() == [("192.0.2.1",)]


# -- origin learnt from a check that reached it directly ----------------------------------------


def _check(db, report_id: int, at: str, ip: str, edge: str | None) -> None:
    db.execute(
        "INSERT INTO checks (report_id, due_at, checked_at, outcome, reason, ip, edge) "
        "VALUES (?, ?, ?, 'online', 'image', ?, ?)",
        [report_id, at, at, ip, edge],
    )
    db.conn.commit()


async def test_a_direct_check_teaches_the_origin_of_an_origin_unknown_report(tmp_path):
    noticed = clock.parse("2026-02-01T00:00:00Z")
    clock.fix(noticed)
    db = store.connect(tmp_path / "t.db")
    (tmp_path / "h.csv").write_text("name,asn\nOrigin Hosting,64501\n")
    assert import_hosters(db, tmp_path / "h.csv").bad == 0
    (tmp_path / "r.csv").write_text(
        "url,reference,reported_at\n"
        f"http://site.example/a.png,case-learnt,{clock.iso(noticed)}\n"
        f"http://other.example/b.png,case-unknown,{clock.iso(noticed)}\n"
    )
    assert import_reports(db, tmp_path / "r.csv", crawl_config()).bad == 0
    ids = dict(db.execute("SELECT reference, id FROM reports"))
    origin_id = db.execute("SELECT id FROM hosters WHERE name = 'Origin Hosting'").fetchone()[0]
    _routes(tmp_path, "127.0.0.1/32 13335\n127.0.0.2/32 64501\n127.0.0.3/32 64999\n")
    config = replace(
        Config(), asn=replace(Config().asn, routing_table=str(tmp_path / "routes.txt"))
    )
    config = replace(config, report=replace(config.report, min_notices_for_rates=1))

    def groups() -> dict[str, dict]:
        data = json.loads(render(build_report(db, config, now=clock.now()), "json"))
        return {g["hoster"]: g for g in data["groups"]}

    def origin(ref: str):
        return db.execute(
            "SELECT origin_hoster_id FROM reports WHERE reference = ?", [ref]
        ).fetchone()[0]

    # both reached through Cloudflare's edge: origin unknown, the CDN group
    for ref in ids:
        _check(db, ids[ref], "2026-02-01T01:00:00Z", "127.0.0.1", "Cloudflare")
    await attribute_new_checks(db, config)
    assert origin("case-learnt") is None
    assert groups()["Cloudflare (origin unknown)"]["notices"] == 2

    # one reached directly at a curated hoster, the other directly at an unmapped ASN
    _check(db, ids["case-learnt"], "2026-02-01T02:00:00Z", "127.0.0.2", None)
    _check(db, ids["case-unknown"], "2026-02-01T02:00:00Z", "127.0.0.3", None)
    await attribute_new_checks(db, config)
    assert origin("case-learnt") == origin_id
    assert origin("case-unknown") is None  # an unmapped fallback teaches nothing
    got = groups()
    assert got["Origin Hosting"]["notices"] == 1 and got["Origin Hosting"]["cdn"] is False
    assert got["Cloudflare (origin unknown)"]["notices"] == 1  # only while unknown

    # later checks through the edge now go to the origin; the earlier one keeps its group
    _check(db, ids["case-learnt"], "2026-02-01T03:00:00Z", "127.0.0.1", "Cloudflare")
    await attribute_new_checks(db, config)
    names = [
        r[0]
        for r in db.execute(
            "SELECT h.name FROM checks c JOIN hosters h ON h.id = c.hoster_id "
            "WHERE c.report_id = ? ORDER BY c.checked_at",
            [ids["case-learnt"]],
        )
    ]
    assert names == ["Cloudflare (origin unknown)", "Origin Hosting", "Origin Hosting"]


async def test_a_direct_check_before_the_edge_or_a_named_origin_is_not_replaced(tmp_path):
    clock.fix(clock.parse("2026-02-01T00:00:00Z"))
    db = store.connect(tmp_path / "t.db")
    (tmp_path / "h.csv").write_text("name,asn\nOrigin Hosting,64501\nOther Hosting,64502\n")
    assert import_hosters(db, tmp_path / "h.csv").bad == 0
    (tmp_path / "r.csv").write_text(
        "url,reference,reported_at,origin_hoster\n"
        "http://site.example/a.png,case-named,2026-02-01T00:00:00Z,Origin Hosting\n"
        "http://site.example/b.png,case-before,2026-02-01T00:00:00Z,\n"
    )
    assert import_reports(db, tmp_path / "r.csv", crawl_config()).bad == 0
    ids = dict(db.execute("SELECT reference, id FROM reports"))
    backend = _routes(tmp_path, "127.0.0.1/32 13335\n127.0.0.4/32 64502\n")
    _check(db, ids["case-named"], "2026-02-01T01:00:00Z", "127.0.0.1", "Cloudflare")
    _check(db, ids["case-named"], "2026-02-01T02:00:00Z", "127.0.0.4", None)
    _check(db, ids["case-before"], "2026-02-01T01:00:00Z", "127.0.0.4", None)
    _check(db, ids["case-before"], "2026-02-01T02:00:00Z", "127.0.0.1", "Cloudflare")
    await resolve_pending(db, Config(), backend=backend)
    origins = dict(
        db.execute(
            "SELECT r.reference, h.name FROM reports r "
            "LEFT JOIN hosters h ON h.id = r.origin_hoster_id"
        )
    )
    assert origins == {"case-named": "Origin Hosting", "case-before": None}


# -- moves between the CDN's edge and the origin ------------------------------------------------


def test_edge_moves_between_edge_and_origin():
    from monitor.core.edge_moves import EdgeMove, edge_moves

    checks = [
        ("t1", "127.0.0.2", None),
        ("t2", None, None),  # no address: no side
        ("t3", "127.0.0.1", "Cloudflare"),
        ("t4", "127.0.0.1", "Cloudflare"),
        ("t5", "127.0.0.2", None),
        ("t6", "127.0.0.5", "Fastly"),
    ]
    assert edge_moves(checks) == (
        EdgeMove("t3", "edge", "Cloudflare"),
        EdgeMove("t5", "origin", "Cloudflare"),
        EdgeMove("t6", "edge", "Fastly"),
    )
    assert edge_moves([("t1", "127.0.0.1", "Cloudflare"), ("t2", None, "Cloudflare")]) == ()
    assert edge_moves([]) == ()


def test_status_json_lists_the_moves_between_edge_and_origin(tmp_path):
    clock.fix(clock.parse("2026-02-01T00:00:00Z"))
    db = store.connect(tmp_path / "t.db")
    (tmp_path / "r.csv").write_text(
        "url,reference,reported_at\n"
        "http://site.example/a.png,case-moved,2026-02-01T00:00:00Z\n"
        "http://site.example/b.png,case-still,2026-02-01T00:00:00Z\n"
    )
    assert import_reports(db, tmp_path / "r.csv", crawl_config()).bad == 0
    ids = dict(db.execute("SELECT reference, id FROM reports"))
    _check(db, ids["case-moved"], "2026-02-01T01:00:00Z", "127.0.0.1", "Cloudflare")
    _check(db, ids["case-moved"], "2026-02-01T02:00:00Z", "127.0.0.2", None)
    _check(db, ids["case-moved"], "2026-02-01T03:00:00Z", "127.0.0.1", "Cloudflare")
    _check(db, ids["case-still"], "2026-02-01T01:00:00Z", "127.0.0.2", None)
    db.conn.close()
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "status", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["reference"]: r for r in json.loads(result.output)}
    assert rows["case-moved"]["moves_edge"] == [
        {"at": "2026-02-01T02:00:00Z", "to": "origin", "edge": "Cloudflare"},
        {"at": "2026-02-01T03:00:00Z", "to": "edge", "edge": "Cloudflare"},
    ]
    assert rows["case-still"]["moves_edge"] == []
    assert list(rows["case-still"])[-1] == "moves_edge"  # appended: keys only grow
