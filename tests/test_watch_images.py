"""A watch scan's images: fetched from the page's callback (engine.download_async, so the
downloader middlewares apply: redirects followed, failures classified), counted per outcome,
and matched as one batch per page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aiohttp import web

from monitor import store
from monitor.core import clock
from monitor.reuploads.watch_sources import add_source
from monitor.runners.watch import run_watch
from tests.crawl_helpers import at, crawl_config, load_world
from tests.watch_helpers import copy_scenario, reuploads, set_baseline


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


@pytest.fixture
async def page_server():
    """A loopback site whose one page shows the images it is given (name -> URL), and
    redirects /r/NAME to redirects[NAME]; both read when requested."""
    sites = []

    async def start(images: dict[str, str], redirects: dict[str, str]) -> str:
        async def page(_request):
            tags = "".join(f'<img src="{u}">' for u in images.values())
            return web.Response(text=f"<html><body>{tags}</body></html>", content_type="text/html")

        async def redirect(request):
            raise web.HTTPFound(redirects[request.match_info["name"]])

        app = web.Application()
        app.router.add_get("/page.html", page)
        app.router.add_get("/r/{name}", redirect)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        sites.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in sites:
        await runner.cleanup()


@pytest.mark.parametrize("match_process", [False, True], ids=["match-inline", "match-process"])
async def test_page_images_each_fetched_counted_and_matched(
    make_world, sim_dns, tmp_path, page_server, match_process
):
    world = await make_world(copy_scenario(("mirror",), items=2))
    world.attach_dns(sim_dns)
    config = crawl_config(sim_dns, match_process=match_process)
    db_file = load_world(world, tmp_path, config)
    db = store.connect(db_file)
    for item in world.plan.reports():
        set_baseline(db, world, item)
    db.conn.close()
    at(world, world.scenario.start + timedelta(days=3))  # the copies are online
    one, two = (world.url(c) for c in world.plan.reuploads())
    images = {
        "direct": one,  # a copy: found
        "moved": "",  # a redirect to the other
        "missing": world.base_url("Copy Host") + "/no-such-image.jpg",  # 404
        "html": world.gallery_urls("Copy Host")[0],  # not an image
        "nxdomain": f"http://nowhere.ntd-sim.test:{world.port}/a.jpg",
    }
    base = await page_server(images, {"moved": two})
    images["moved"] = f"{base}/r/moved"
    db = store.connect(db_file)
    add_source(db, f"{base}/page.html", config, depth=0)
    db.conn.close()

    summary = await run_watch(db_file, config)

    assert summary.pages == 1 and summary.images == 2
    assert summary.errors == {"image/dns_nxdomain": 1}
    db = store.connect(db_file)
    stats = json.loads(db.execute("SELECT stats FROM crawls WHERE kind = 'watch'").fetchone()[0])
    db.conn.close()
    assert stats["monitor/watch/images/queued"] == 5
    assert stats["monitor/watch/images/status/200"] == 3  # the two copies and the album
    assert stats["monitor/watch/images/status/404"] == 1
    assert stats["monitor/watch/images/not_image"] == 1
    assert stats["monitor/reuploads/images"] == 2  # one SeenImages batch of two
    # matched where configured: the match process reports its index build and matching time
    assert ("monitor/reuploads/match_cpu_ms" in stats) is match_process
    assert stats["monitor/reuploads/index_entries"] > 0
    # the redirect was followed: the re-upload is recorded at the URL that served the bytes,
    # attributed to the hoster serving it
    rows = reuploads(db_file)
    assert {(r["url"], r["page_url"], r["hoster"]) for r in rows} == {
        (one, f"{base}/page.html", "Copy Host"),
        (two, f"{base}/page.html", "Copy Host"),
    }
