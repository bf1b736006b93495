"""Crawl safety: content is never persisted (canary), the network guard (redirects to
non-public addresses, bounded DNS lookups), and kill -9 recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from datetime import timedelta

import pytest
from aiohttp import web

from monitor import store
from monitor.core import clock
from monitor.intake.reports import import_reports
from monitor.runners.crawl import run_crawl
from spiders.resolver import NameLookupFailed, Resolver, TargetRefused
from tests.crawl_helpers import LOOPBACK, at, behaviour_scenario, crawl_config, load_world

CANARY = b"NTD-CANARY-7f3a9c1e-DO-NOT-PERSIST"


def _files_holding(folder, needle: bytes) -> list[str]:
    """Every file below `folder` whose bytes contain `needle`."""
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                if needle in fh.read():
                    found.append(path)
    return found


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


@pytest.mark.parametrize(
    "behaviours, formats, written",
    [
        (("404", "different_image", "html"), None, 6),
        (("404", "different_image"), {"mp4": 1.0}, 4),  # videos: vPDQ baselines, prefixes
    ],
    ids=["images", "videos"],
)
async def test_fetched_content_never_reaches_disk(
    make_world, tmp_path, behaviours, formats, written
):
    world = await make_world(
        behaviour_scenario(behaviours, items=2, formats=formats), canary=CANARY
    )
    assert CANARY in world.body(world.plan.reports()[0])  # the world really serves it
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    for hours in (1, 8, 13):
        at(world, world.scenario.start + timedelta(hours=hours, minutes=1))
        result = await run_crawl(db_file, config, resolve_asn=False)
        assert result.written == written
    db = store.connect(db_file)
    kinds = {a for (a,) in db.execute("SELECT DISTINCT algorithm FROM report_hashes")}
    db.conn.close()
    assert ("vpdq" in kinds) == bool(formats)  # videos were hashed as videos
    assert _files_holding(tmp_path, CANARY) == []
    assert (tmp_path / "t.db-wal").exists() or (tmp_path / "t.db").exists()


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
async def test_guard_opens_only_the_allowed_networks(address):
    with pytest.raises(TargetRefused):
        await Resolver().addresses(address)
    assert await Resolver(allow_networks=LOOPBACK).addresses(address) == (address,)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "192.168.1.1",
        "169.254.169.254",
        "224.0.0.1",
        "100.64.0.1",
        "fe80::1",
        "2002:a00:1::1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
    ],
)
async def test_guard_refuses_non_public_addresses_even_with_loopback_allowed(address):
    with pytest.raises(TargetRefused, match="refused non-public address"):
        await Resolver(allow_networks=LOOPBACK).addresses(address)


async def test_guard_refuses_names_that_resolve_to_private(sim_dns):
    sim_dns.add_host("sneaky.sim.test", ["127.0.1.9"])
    resolver = Resolver([sim_dns.address])
    with pytest.raises(TargetRefused):
        await resolver.addresses("sneaky.sim.test")
    allowed = Resolver([sim_dns.address], allow_networks=("127.0.1.9/32",))
    assert await allowed.addresses("sneaky.sim.test") == ("127.0.1.9",)
    other = Resolver([sim_dns.address], allow_networks=("127.0.1.8/32",))
    with pytest.raises(TargetRefused):
        await other.addresses("sneaky.sim.test")


async def test_crawl_without_permission_never_touches_loopback(make_world, tmp_path):
    world = await make_world(behaviour_scenario(("404", "redirect_front"), items=2))
    config = crawl_config(allow_networks=())
    db_file = load_world(world, tmp_path, config)
    at(world, world.scenario.start + timedelta(hours=1, minutes=1))
    served_before = world.requests
    result = await run_crawl(db_file, config, resolve_asn=False)
    assert result.written == 4
    db = store.connect(db_file)
    assert db.execute("SELECT DISTINCT outcome, reason FROM checks").fetchall() == [
        ("unreachable", "ssrf_refused")
    ]
    assert world.requests == served_before


async def _crawl_one(tmp_path, url: str, config) -> tuple[tuple[str, str], float]:
    """Import `url` as a report noticed an hour ago, crawl it: (outcome, reason), seconds."""
    noticed = clock.parse("2026-02-01T00:00:00Z")
    clock.fix(noticed)
    (tmp_path / "r.csv").write_text(
        f"url,reference,reported_at\n{url},case-1,{clock.iso(noticed)}\n"
    )
    db_file = tmp_path / "one.db"
    db = store.connect(db_file)
    assert import_reports(db, tmp_path / "r.csv", config).bad == 0
    db.conn.close()
    clock.fix(noticed + timedelta(hours=1, minutes=1))
    started = time.monotonic()
    result = await run_crawl(db_file, config, resolve_asn=False)
    seconds = time.monotonic() - started
    assert result.written == 1
    db = store.connect(db_file)
    row = db.execute("SELECT outcome, reason FROM checks").fetchone()
    db.conn.close()
    return tuple(row), seconds


@pytest.fixture
async def redirector():
    """A loopback server whose /to?url=X answers 302 to X; it counts the requests it gets."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        raise web.HTTPFound(request.query["url"])

    app = web.Application()
    app.router.add_get("/to", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "target",
    [
        "http://100.64.0.1/img.jpg",
        "http://[2002:a00:1::1]/img.jpg",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://192.0.0.8/",
    ],
)
async def test_redirect_to_non_public_address_is_refused(redirector, tmp_path, target):
    """The redirect is a new request through the guard: refused before any connection
    (the crawl ends at once as ssrf_refused, not after a connect timeout)."""
    base, seen = redirector
    config = crawl_config(allow_networks=("127.0.0.0/8",))
    outcome, _seconds = await _crawl_one(tmp_path, f"{base}/to?url={target}", config)
    assert outcome == ("unreachable", "ssrf_refused")
    assert len(seen) == 1  # the loopback server answered; nothing followed it


async def test_silent_nameserver_costs_one_download_timeout(tmp_path):
    """A nameserver that never answers: the check ends as dns_error within about the
    download timeout (it used to wait DNS_TIMEOUT = 60 s per record type, and again on retry)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # receives queries, never answers
    try:
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        config = crawl_config(
            allow_networks=LOOPBACK, nameservers=(address,), download_timeout=timedelta(seconds=1)
        )
        outcome, seconds = await _crawl_one(tmp_path, "http://silent.sim.test/a.jpg", config)
        assert outcome == ("unreachable", "dns_error")
        assert seconds < 20
        resolver = Resolver([address], timeout=0.5)
        started = time.monotonic()
        with pytest.raises(NameLookupFailed):
            await resolver.addresses("silent.sim.test")
        assert time.monotonic() - started < 10
    finally:
        silent.close()


def _config_file(tmp_path, world_dns=None) -> str:
    path = tmp_path / "c.toml"
    path.write_text(
        '[crawl]\nallow_networks = ["127.0.0.0/8", "::1/128"]\nhash_workers = 0\n'
        "autothrottle = false\nconcurrent_requests = 8\nper_hoster_concurrency = 2\n"
    )
    return str(path)


async def test_kill_9_mid_crawl_loses_nothing_and_doubles_nothing(make_world, tmp_path):
    world = await make_world(behaviour_scenario(("404", "different_image", "410"), items=250))
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    when = world.scenario.start + timedelta(hours=1, minutes=1)
    at(world, when)
    args = [
        sys.executable,
        "-m",
        "monitor",
        "--db",
        str(db_file),
        "--config",
        _config_file(tmp_path),
        "--now",
        clock.iso(when),
        "crawl",
        "--no-progress",
    ]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    db = store.connect(db_file)
    for _ in range(600):
        await asyncio.sleep(0.1)
        if db.execute("SELECT COUNT(*) FROM checks").fetchone()[0] >= 500:
            break
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    partial = db.execute("SELECT COUNT(*) FROM checks").fetchone()[0]
    assert 500 <= partial < 750
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    total, distinct = db.execute(
        "SELECT COUNT(*), COUNT(DISTINCT report_id || due_at) FROM checks"
    ).fetchone()
    assert total == distinct == 750
    assert (
        db.execute(
            "SELECT COUNT(*) FROM reports WHERE next_check_at <= ?", [clock.iso(when)]
        ).fetchone()[0]
        == 0
    )
