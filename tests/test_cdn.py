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

from monitor import clock, store
from monitor.asn import attribute_new_checks, resolve_pending
from monitor.asn_dns import RoutingTableBackend
from monitor.cdn import DEFAULTS, CdnRegistry, import_cdns
from monitor.cli import cli
from monitor.config import Config
from monitor.crawl import run_crawl
from monitor.edge import edge_from_asn, edge_from_headers
from monitor.import_hosters import import_hosters
from monitor.import_reports import import_reports
from reports.build import build_report
from reports.render import render
from tests.crawl_helpers import crawl_config


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


# -- detection from headers (pure) -------------------------------------------------------------

@pytest.mark.parametrize(("headers", "edge"), [
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
])
def test_edge_from_headers(headers, edge):
    assert edge_from_headers(headers) == edge
    raw = [(k.encode(), [v.encode()]) for k, v in headers.items()]   # as Scrapy has them
    assert edge_from_headers(raw) == edge


def test_edge_from_asn_prefix_then_asn():
    registry = CdnRegistry.of(DEFAULTS)
    assert edge_from_asn(13335, "104.16.1.1", registry) == "Cloudflare"
    assert edge_from_asn(20940, None, registry) == "Akamai"
    # CloudFront only by its prefixes: AWS hosting in the same AS16509 stays a hoster
    assert edge_from_asn(16509, "54.230.1.1", registry) == "Amazon CloudFront"
    assert edge_from_asn(16509, "3.120.0.1", registry) is None
    assert edge_from_asn(63949, "172.105.0.1", registry) is None      # Linode: hosting
    assert edge_from_asn(None, "not an ip", registry) is None


def test_defaults_list_no_shared_hosting_asn():
    asns = {row.asn for row in DEFAULTS if row.asn is not None}
    assert {13335, 20940, 16625, 54113} <= asns
    assert not asns & {16509, 14618, 63949, 15169, 8075}    # AWS, Linode, Google, Microsoft


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
        "Edgy CDN,AS64511,,abuse@edgy.example\n"        # 2: good
        "Edgy CDN,,198.51.100.0/24,\n"                   # 3: good, inherits the e-mail
        "Bad,AS６４５００,,\n"                           # 4: not ASCII digits
        "Wide,,10.0.0.0/7,\n"                             # 5: too wide
        "Ctl,64512,,abuse@x.example\x1b[31m\n"            # 6: control character
        "Both,64513,192.0.2.0/24,\n"                     # 7: both
        "None,,,\n", encoding="utf-8")                   # 8: neither
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
    assert import_cdns(db, str(path)).added == 0          # again: nothing new


def test_cli_cdn_import_and_list(tmp_path):
    db_path = str(tmp_path / "t.db")
    path = tmp_path / "cdns.csv"
    path.write_text("name,asn,prefix,abuse_email\nEdgy CDN,64511,,abuse@edgy.example\n"
                    "Bad,xx,,\n")
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
        return web.Response(body=body, content_type="image/png",
                            headers={"CF-RAY": "8c1f2a3b4c5d6e7f-AMS", "Server": "cloudflare"})

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
        f"{base}/plain.png,case-plain,{clock.iso(noticed)}{',' if extra else ''}\n")
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
    return {r[0]: tuple(r[1:]) for r in db.execute(
        "SELECT r.reference, c.edge, h.name, h.cdn, c.asn FROM checks c "
        "JOIN reports r ON r.id = c.report_id LEFT JOIN hosters h ON h.id = c.hoster_id")}


async def test_crawl_stores_the_header_edge_and_attributes_origin_unknown(edge_server, tmp_path):
    db_file = await _crawled(tmp_path, edge_server)
    db = store.connect(db_file)
    edges = dict(db.execute("SELECT r.reference, c.edge FROM checks c "
                            "JOIN reports r ON r.id = c.report_id"))
    assert edges == {"case-cdn": "Cloudflare", "case-plain": None}
    await resolve_pending(db, Config(), backend=_backend(tmp_path, 64500))
    got = _attributed(db)
    assert got["case-cdn"] == ("Cloudflare", "Cloudflare (origin unknown)", "Cloudflare", 64500)
    assert got["case-plain"] == (None, "AS64500", None, 64500)      # the unmapped fallback
    group = db.execute("SELECT abuse_email, unmapped FROM hosters WHERE cdn = 'Cloudflare'")
    assert group.fetchall() == [("abuse@cloudflare.com", 0)]


async def test_a_cdn_asn_is_an_edge_without_any_header(edge_server, tmp_path):
    db_file = await _crawled(tmp_path, edge_server)
    db = store.connect(db_file)
    await resolve_pending(db, Config(), backend=_backend(tmp_path, 54113))     # Fastly's ASN
    got = _attributed(db)
    assert got["case-plain"] == ("Fastly", "Fastly (origin unknown)", "Fastly", 54113)
    # the registry's ASN outranks the headers: the IP is Fastly's
    assert got["case-cdn"] == ("Fastly", "Fastly (origin unknown)", "Fastly", 54113)
    assert not db.execute("SELECT 1 FROM hosters WHERE name LIKE '%54113%' OR name = "
                          "'AS54113'").fetchall()       # never an unmapped "hoster" for a CDN


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
    await attribute_new_checks(db, config)       # the ASN stage, summaries refreshed
    got = _attributed(db)
    assert got["case-cdn"] == ("Cloudflare", "Origin Hosting", None, 13335)
    assert got["case-plain"] == ("Cloudflare", "Cloudflare (origin unknown)", "Cloudflare", 13335)
    notified = dict(db.execute("SELECT r.reference, h.name FROM reports r "
                               "JOIN hosters h ON h.id = r.notified_hoster_id"))
    assert notified == {"case-cdn": "Origin Hosting",
                        "case-plain": "Cloudflare (origin unknown)"}

    # the report: the CDN is a group of its own, never ranked; the hoster says "via CDN only"
    config = replace(config, report=replace(config.report, min_notices_for_rates=1))
    data = json.loads(render(build_report(db, config, now=clock.now()), "json"))
    groups = {g["hoster"]: g for g in data["groups"]}
    cdn_group = groups["Cloudflare (origin unknown)"]
    assert cdn_group["cdn"] is True and cdn_group["rank"] is None
    assert not cdn_group["too_few_to_rank"]       # unranked because it is a CDN, not for size
    origin = groups["Origin Hosting"]
    assert origin["cdn"] is False and origin["rank"] == 1 and origin["via_cdn_only"] == 1
    assert list(origin)[-3:] == ["orders", "cdn", "via_cdn_only"]   # appended: keys only grow


async def test_origin_ip_from_the_import_is_attributed_through_the_registry(edge_server,
                                                                            tmp_path):
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
    db.execute("INSERT INTO hosters (name, cdn, created_at) VALUES "
               "('Cloudflare (origin unknown)', 'Cloudflare', 't')")
    (tmp_path / "r.csv").write_text(
        "url,origin_ip,origin_hoster\n"
        "http://a.example/1.jpg,192.0.2.1,\n"                      # 2: good
        "http://a.example/2.jpg,,Nobody Hosting\n"                 # 3: unknown hoster
        "http://a.example/3.jpg,,Cloudflare (origin unknown)\n"    # 4: a CDN group
        "http://a.example/4.jpg,192.0.2.300,\n"                    # 5: not an IP
        "http://a.example/5.jpg,fe80::1%eth0,\n")                  # 6: zone id
    result = import_reports(db, tmp_path / "r.csv", Config())
    assert result.added == 1
    assert {e.line for e in result.errors} == {3, 4, 5, 6}
    assert db.execute("SELECT origin_ip FROM reports").fetchall() == [("192.0.2.1",)]
