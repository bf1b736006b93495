"""The page gate of watch scans (spiders.page_gate): how many pages are open per download slot
and in all, sources started in turns across slots, and every way a page ends (images done,
error status, redirect, refused connection, an image as the source) closing it again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections import deque

import pytest
from aiohttp import web

from hashes.synthetic import encode, image
from monitor import store
from monitor.reuploads.watch_sources import add_source
from monitor.runners.watch import run_watch
from spiders.page_gate import PageGate, by_slot, take_turns
from tests.crawl_helpers import crawl_config

# -- the gate itself ---------------------------------------------------------------------------


def test_room_is_bounded_per_slot_and_in_all():
    gate = PageGate(per_slot=2, total=3)
    gate.opened("a")
    gate.opened("a")
    assert not gate.room("a") and gate.room("b")
    gate.opened("b")
    assert not gate.room("b") and not gate.room("c")  # 3 open in all
    gate.closed("a")
    assert gate.room("a") and gate.room("c") and gate.most == 3
    with pytest.raises(ValueError):
        gate.closed("c")  # nothing open there


async def test_wait_returns_when_a_page_closes_and_false_on_timeout():
    gate = PageGate(1, 1)
    gate.opened("a")
    assert await gate.wait(0.05) is False
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, gate.closed, "a")
    assert await gate.wait(5) is True
    assert gate.open_total == 0


def test_take_turns_goes_round_the_slots_and_skips_full_ones():
    gate = PageGate(per_slot=1, total=10)
    queues = by_slot(["a1", "a2", "b1", "c1", "c2"], lambda s: s[0])
    assert list(queues) == ["a", "b", "c"]
    first = take_turns(queues, gate)
    assert first == [("a", "a1"), ("b", "b1"), ("c", "c1")]
    for slot, _ in first:
        gate.opened(slot)
    assert take_turns(queues, gate) == []  # every slot is full
    gate.closed("c")
    assert take_turns(queues, gate) == [("c", "c2")]
    gate.opened("c")
    gate.closed("a")
    assert take_turns(queues, gate) == [("a", "a2")]
    assert queues == {}


def test_take_turns_respects_the_total_and_rotates_the_slots():
    gate = PageGate(per_slot=5, total=2)
    queues = {"a": deque([1, 2]), "b": deque([3]), "c": deque([4])}
    assert take_turns(queues, gate) == [("a", 1), ("b", 3)]
    assert list(queues) == ["c", "a"]  # c did not get a turn: it goes first
    gate.opened("a")
    assert take_turns(queues, gate) == [("c", 4)]


# -- in a scan ---------------------------------------------------------------------------------


@pytest.fixture
async def sites():
    """Loopback sites on 127.0.0.1 and 127.0.0.2 (two download slots; Linux answers on all of
    127.0.0.0/8). /p/N.html shows 3 images /i/N-K.png; /slow/N.html the same with each image
    served after 0.15 s; /front/N.html links /slow/1.html to /slow/N.html; /gone.html is a
    404, /moved.html redirects to /p/99.html, /img/N.png is an image. Every request is logged
    as (host, path, time)."""
    log: list[tuple[str, str, float]] = []
    runners = []

    async def page(request):
        n, slow = request.match_info["n"], request.path.startswith("/slow/")
        prefix = "/slow-i" if slow else "/i"
        tags = "".join(f'<img src="{prefix}/{n}-{k}.png">' for k in range(3))
        return web.Response(text=f"<html><body>{tags}</body></html>", content_type="text/html")

    async def serve_image(request):
        if request.path.startswith("/slow-i/"):
            await asyncio.sleep(0.15)
        n = int(request.match_info["n"])
        return web.Response(body=encode(image(n, (96, 96)), "PNG"), content_type="image/png")

    async def front(request):
        n = int(request.match_info["n"])
        links = "".join(f'<a href="/slow/{k}.html">album {k}</a>' for k in range(1, n + 1))
        return web.Response(text=f"<html><body>{links}</body></html>", content_type="text/html")

    async def gone(_request):
        return web.Response(status=404, text="gone")

    async def moved(_request):
        raise web.HTTPFound("/p/99.html")

    @web.middleware
    async def logged(request, handler):
        log.append((request.host.split(":")[0], request.path, time.monotonic()))
        return await handler(request)

    async def start(host: str) -> str:
        app = web.Application(middlewares=[logged])
        app.router.add_get(r"/p/{n:\d+}.html", page)
        app.router.add_get(r"/slow/{n:\d+}.html", page)
        app.router.add_get(r"/i/{n:\d+}-{k:\d+}.png", serve_image)
        app.router.add_get(r"/slow-i/{n:\d+}-{k:\d+}.png", serve_image)
        app.router.add_get(r"/img/{n:\d+}.png", serve_image)
        app.router.add_get(r"/front/{n:\d+}.html", front)
        app.router.add_get("/gone.html", gone)
        app.router.add_get("/moved.html", moved)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        runners.append(runner)
        return f"http://{host}:{runner.addresses[0][1]}"

    a, b = await start("127.0.0.1"), await start("127.0.0.2")
    yield a, b, log
    for runner in runners:
        await runner.cleanup()


def _sources(db_file, config, urls, *, depth: int = 0, max_pages: int = 1):
    db = store.connect(db_file)
    for url in urls:
        add_source(db, url, config, depth=depth, max_pages=max_pages)
    db.conn.close()


def _stats(db_file) -> dict:
    db = store.connect(db_file)
    stats = json.loads(
        db.execute(
            "SELECT stats FROM crawls WHERE kind = 'watch' ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
    )
    db.conn.close()
    return stats


async def test_pages_never_run_ahead_of_their_images(sites, tmp_path):
    a, _, log = sites
    config = crawl_config()
    db_file = tmp_path / "t.db"
    _sources(db_file, config, [f"{a}/p/{n}.html" for n in range(1, 7)])

    summary = await run_watch(db_file, config, NTD_WATCH_PAGES_PER_SLOT=1, NTD_WATCH_OPEN_PAGES=1)

    assert summary.sources == 6 and summary.images == 18
    paths = [path for _, path, _ in log]
    for n in range(1, 6):  # page n+1 is requested only after all of page n's images
        last_image = max(i for i, p in enumerate(paths) if p.startswith(f"/i/{n}-"))
        assert paths.index(f"/p/{n + 1}.html") > last_image, paths
    stats = _stats(db_file)
    assert stats["monitor/watch/gate/most_open"] == 1
    assert "monitor/watch/gate/open_at_close" not in stats


async def test_a_slow_hoster_does_not_hold_up_the_others(sites, tmp_path):
    a, b, log = sites
    config = crawl_config()
    db_file = tmp_path / "t.db"
    slow = [f"{a}/slow/{n}.html" for n in range(1, 5)]
    fast = [f"{b}/p/{n}.html" for n in range(1, 9)]
    _sources(db_file, config, slow + fast)  # due in this order: the slow ones first

    summary = await run_watch(db_file, config, NTD_WATCH_PAGES_PER_SLOT=1, NTD_WATCH_OPEN_PAGES=2)

    assert summary.sources == 12 and summary.images == 36
    second_slow_page = next(t for host, path, t in log if path == "/slow/2.html")
    fast_pages = [t for host, path, t in log if host == "127.0.0.2" and path.startswith("/p/")]
    assert len(fast_pages) == 8
    # the fast hoster's pages went on while the slow hoster's first page still loaded images
    assert sum(t < second_slow_page for t in fast_pages) >= 2, log
    assert _stats(db_file)["monitor/watch/gate/most_open"] == 2


async def test_pages_a_page_links_wait_for_room_too(sites, tmp_path):
    a, b, log = sites
    config = crawl_config()
    db_file = tmp_path / "t.db"
    _sources(db_file, config, [f"{a}/front/6.html"], depth=1, max_pages=200)
    _sources(db_file, config, [f"{b}/p/{n}.html" for n in range(1, 5)])

    summary = await run_watch(db_file, config, NTD_WATCH_PAGES_PER_SLOT=2, NTD_WATCH_OPEN_PAGES=3)

    assert summary.sources == 5 and summary.images == 6 * 3 + 4 * 3
    stats = _stats(db_file)
    assert stats["monitor/watch/gate/most_open"] == 3  # not the 6 albums at once
    assert "monitor/watch/gate/timeouts" not in stats
    albums = [t for _, path, t in log if path.startswith("/slow/")]
    fast_pages = [t for host, path, t in log if host == "127.0.0.2" and path.startswith("/p/")]
    assert len(albums) == 6 and len(fast_pages) == 4
    assert max(fast_pages) < max(albums), log  # the other hoster was not held up behind them


async def test_every_way_a_page_ends_closes_it(sites, tmp_path):
    a, _, log = sites
    with socket.socket() as s:  # a port nothing listens on: connection refused
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/p/1.html"
    config = crawl_config()
    db_file = tmp_path / "t.db"
    _sources(
        db_file,
        config,
        [f"{a}/gone.html", refused, f"{a}/moved.html", f"{a}/img/5.png", f"{a}/p/1.html"],
    )

    # one page open at a time, and a page whose end went unnoticed would stall the next
    # source for the whole patience (counted), so a missed close fails this test
    summary = await run_watch(
        db_file,
        config,
        NTD_WATCH_PAGES_PER_SLOT=1,
        NTD_WATCH_OPEN_PAGES=1,
        NTD_WATCH_GATE_PATIENCE=30,
        RETRY_ENABLED=False,
    )

    assert summary.sources == 5
    assert summary.images == 3 + 1 + 3  # moved -> /p/99, the image source, /p/1
    stats = _stats(db_file)
    assert stats["monitor/watch/pages/status/404"] == 1
    assert stats["monitor/watch/error/page/refused"] == 1
    assert "monitor/watch/gate/timeouts" not in stats
    assert "monitor/watch/gate/open_at_close" not in stats


async def test_a_page_that_never_ends_does_not_stall_the_scan(sites, tmp_path, monkeypatch):
    """The safety valve: were a page's end ever missed, the next source starts after the
    patience instead of never (and says so in the stats)."""
    from spiders.spiders import watch

    a, _, _ = sites
    config = crawl_config()
    db_file = tmp_path / "t.db"
    _sources(db_file, config, [f"{a}/p/1.html", f"{a}/p/2.html"])
    done = watch.WatchSpider._page_done
    missed: list[str] = []

    def miss_first(spider, request):
        if not missed:
            missed.append(request.url)  # this page's end goes unnoticed
            return
        done(spider, request)

    monkeypatch.setattr(watch.WatchSpider, "_page_done", miss_first)
    summary = await run_watch(
        db_file,
        config,
        NTD_WATCH_PAGES_PER_SLOT=1,
        NTD_WATCH_OPEN_PAGES=1,
        NTD_WATCH_GATE_PATIENCE=0.5,
    )

    assert summary.sources == 2 and summary.images == 6
    stats = _stats(db_file)
    assert stats["monitor/watch/gate/timeouts"] == 1
    assert stats["monitor/watch/gate/open_at_close"] == 1


@pytest.mark.parametrize("after", [0.0, 1.0], ids=["at-once", "while-waiting-for-room"])
async def test_sigterm_stops_the_scan_cleanly(sites, tmp_path, after):
    """`run` stops on SIGTERM: at once (before Scrapy's engine runs: Scrapy 2.19 dropped that
    stop and then never closed the finished crawl) or while sources wait on the gate. The scan
    is recorded as interrupted and leaves every source due for the next run."""
    a, _, _ = sites
    config = crawl_config()
    db_file = tmp_path / "t.db"
    _sources(db_file, config, [f"{a}/slow/{n}.html" for n in range(1, 21)])  # >= 3 s at 1 open
    loop = asyncio.get_running_loop()
    kill = loop.call_later(after, os.kill, os.getpid(), signal.SIGTERM)
    try:
        summary = await asyncio.wait_for(
            run_watch(
                db_file,
                config,
                handle_signals=True,
                NTD_WATCH_PAGES_PER_SLOT=1,
                NTD_WATCH_OPEN_PAGES=1,
            ),
            60,
        )
    finally:
        kill.cancel()  # never a SIGTERM after run_watch has put the handlers back

    assert summary.interrupted and summary.sources < 20
    db = store.connect(db_file)
    status = db.execute("SELECT status FROM crawls WHERE kind = 'watch'").fetchone()[0]
    due = db.execute("SELECT count(*) FROM watch_sources WHERE last_scan_at IS NULL").fetchone()[0]
    db.conn.close()
    assert status == "interrupted" and due == 20
