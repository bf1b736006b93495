"""Hostile watch sources: a gallery of slow-drip images ends within one deadline, and image
bytes served as text/html are hashed (and found) wherever they are.

A loopback aiohttp site on 127.0.0.1 serves: /gallery.html (2 quick images, then 20 that drip
1 byte every 0.5 s and never finish), /drip.html (a page that itself drips), /as-html (the
reported material's bytes as text/html), /album.html (a page whose one image, /i/as-html.png,
is the material re-encoded as PNG and served as text/html; /i/as-404.jpg, the material's bytes
with status 404; /i/plain-404.jpg, an ordinary 404 page). Nothing here is real: the reported
material is a generated drawing (hashes.synthetic).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from functools import cache
from io import BytesIO

import pytest
from aiohttp import web
from PIL import Image

from hashes import synthetic
from hashes.compute import compute
from monitor import store
from monitor.core import clock
from monitor.intake.reports import import_reports
from monitor.reuploads.watch_sources import add_source
from monitor.runners.watch import run_watch
from tests.crawl_helpers import crawl_config
from tests.watch_helpers import reuploads

DEADLINE_S = 3.0
DOWNLOAD_TIMEOUT_S = 120.0  # before the page deadline: 20 images x 2 attempts x 120 s / 4
STOP_AFTER_S = 40.0  # a scan still running then is stopped (and the test fails)
SLOW_IMAGES = 20


@cache
def reported() -> bytes:
    return synthetic.jpeg(21, (480, 360))


@cache
def reencoded() -> bytes:
    return synthetic.encode(Image.open(BytesIO(reported())), "PNG")


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


@pytest.fixture
async def site():
    stopping = asyncio.Event()

    async def drip(request: web.Request, content_type: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        resp.content_length = 5000
        await resp.prepare(request)
        try:
            for _ in range(5000):
                await resp.write(b"\x89")
                try:
                    await asyncio.wait_for(stopping.wait(), 0.5)
                    break
                except TimeoutError:
                    pass
        except (ConnectionError, RuntimeError):
            pass
        return resp

    async def gallery(_request):
        tags = "".join(f'<img src="/quick/{n}.png">' for n in range(2))
        tags += "".join(f'<img src="/slow/{n}.jpg">' for n in range(SLOW_IMAGES))
        return web.Response(text=f"<html><body>{tags}</body></html>", content_type="text/html")

    async def quick(request):
        n = int(request.match_info["n"])
        return web.Response(
            body=synthetic.encode(synthetic.image(n + 60, (96, 96)), "PNG"),
            content_type="image/png",
        )

    async def album(_request):
        return web.Response(
            text='<html><body><img src="/i/as-html.png">'
            '<img src="/i/as-404.jpg"><img src="/i/plain-404.jpg">'
            "</body></html>",
            content_type="text/html",
        )

    async def as_404(_request):  # the material, under a status that says "gone"
        return web.Response(body=reported(), status=404, content_type="text/html")

    async def plain_404(_request):  # an ordinary not-found page: never hashed
        return web.Response(
            text="<html><body>not found</body></html>", status=404, content_type="text/html"
        )

    async def slow_image(request):
        return await drip(request, "image/jpeg")

    async def slow_page(request):
        return await drip(request, "text/html")

    async def as_html(_request):
        return web.Response(body=reported(), content_type="text/html")

    async def reencoded_as_html(_request):
        return web.Response(body=reencoded(), content_type="text/html")

    app = web.Application()
    app.router.add_get("/gallery.html", gallery)
    app.router.add_get(r"/quick/{n:\d+}.png", quick)
    app.router.add_get(r"/slow/{n:\d+}.jpg", slow_image)
    app.router.add_get("/drip.html", slow_page)
    app.router.add_get("/as-html", as_html)
    app.router.add_get("/album.html", album)
    app.router.add_get("/i/as-html.png", reencoded_as_html)
    app.router.add_get("/i/as-404.jpg", as_404)
    app.router.add_get("/i/plain-404.jpg", plain_404)

    async def stop(_app):
        stopping.set()

    app.on_shutdown.append(stop)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def _stats(db_file) -> dict:
    db = store.connect(db_file)
    stats = json.loads(
        db.execute(
            "SELECT stats FROM crawls WHERE kind = 'watch' ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
    )
    db.conn.close()
    return stats


async def _scan(db_file, config, **settings):
    """run_watch, stopped after STOP_AFTER_S if it is still going (then `interrupted`)."""
    stop = asyncio.Event()
    timer = asyncio.get_running_loop().call_later(STOP_AFTER_S, stop.set)
    try:
        return await run_watch(db_file, config, stop=stop, **settings)
    finally:
        timer.cancel()


async def test_a_gallery_of_slow_images_ends_within_its_deadline_and_counts_what_it_saw(
    site, tmp_path
):
    config = crawl_config(download_timeout=timedelta(seconds=DOWNLOAD_TIMEOUT_S))
    db_file = tmp_path / "t.db"
    db = store.connect(db_file)
    add_source(db, f"{site}/gallery.html", config, depth=0)
    add_source(db, f"{site}/drip.html", config, depth=0)
    db.conn.close()

    summary = await _scan(db_file, config, NTD_CHECK_DEADLINE=DEADLINE_S)

    # (before the page deadline the scan ran until stopped: 20 x 2 x 120 s / 4 at once)
    assert not summary.interrupted and summary.sources == 2
    assert summary.images == 2  # the quick ones: seen and matched
    stats = _stats(db_file)
    assert stats["monitor/reuploads/images"] == 2  # one SeenImages batch of the two
    assert stats["monitor/watch/images/queued"] == 2 + SLOW_IMAGES
    assert stats["monitor/watch/images/late"] == SLOW_IMAGES
    assert stats["monitor/watch/deadline/page_cut"] == 1
    assert "monitor/watch/error/image/timeout" not in stats  # late, not failed
    assert stats["monitor/watch/error/page/timeout"] == 1  # the dripping page, cut too
    assert "monitor/watch/gate/open_at_close" not in stats
    db = store.connect(db_file)
    due = db.execute("SELECT count(*) FROM watch_sources WHERE last_scan_at IS NULL").fetchone()
    db.conn.close()
    assert due[0] == 0  # both scanned, rescheduled


async def test_image_bytes_served_as_text_html_are_hashed_and_found(site, tmp_path):
    clock.fix(clock.parse("2026-03-02T00:00:00Z"))
    config = crawl_config()
    db_file = tmp_path / "t.db"
    h = compute(reported())
    (tmp_path / "reports.csv").write_text(
        "url,reference,reported_at,noticed_at,phash,pdq,sha256\n"
        f"http://origin.test/reported.jpg,R-1,2026-03-01T00:00:00Z,2026-03-01T00:00:00Z,"
        f"{h.phash},{h.pdq},{h.sha256}\n"
    )
    db = store.connect(db_file)
    assert import_reports(db, tmp_path / "reports.csv", config).bad == 0
    add_source(db, f"{site}/as-html", config, depth=0)  # the source itself: an image
    add_source(db, f"{site}/album.html", config, depth=0)  # a page whose image is one
    db.conn.close()

    summary = await _scan(db_file, config)

    assert not summary.interrupted and summary.images == 3
    found = {(r["url"], r["page_url"]) for r in reuploads(db_file)}
    assert found == {
        (f"{site}/as-html", f"{site}/as-html"),
        (f"{site}/i/as-html.png", f"{site}/album.html"),
        (f"{site}/i/as-404.jpg", f"{site}/album.html"),
    }  # a 404 hides nothing
    stats = _stats(db_file)
    assert "monitor/watch/images/not_image" not in stats
    assert stats.get("monitor/watch/pages") == 1  # only the album was read as a page
