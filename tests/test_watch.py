"""Watch scans against the simulated hoster world: re-uploads found on another hoster,
attributed to the hoster serving them; bounds, rescans and repeated sightings."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hashes.compute import compute
from monitor import store
from monitor.core import clock
from monitor.reuploads.watch_sources import add_source
from monitor.runners.watch import run_watch
from tests.crawl_helpers import at, crawl_config, load_world
from tests.watch_helpers import copy_scenario, hash_list, reuploads, set_baseline


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


async def _copy_world(make_world, sim_dns, tmp_path, transforms, **kwargs):
    world = await make_world(copy_scenario(transforms, **kwargs))
    world.attach_dns(sim_dns)
    config = crawl_config(sim_dns)
    db_file = load_world(world, tmp_path, config)
    return world, config, db_file


@pytest.mark.parametrize("transform", ["mirror", "resize", "reencode"])
async def test_transformed_copy_on_another_hoster_is_found_and_attributed_to_it(
    make_world, sim_dns, tmp_path, transform
):
    world, config, db_file = await _copy_world(make_world, sim_dns, tmp_path, (transform,))
    originals = world.plan.reports()
    db = store.connect(db_file)
    ids = {it.id: set_baseline(db, world, it) for it in originals}
    at(world, world.scenario.start + timedelta(days=3))
    add_source(db, world.gallery_urls("Copy Host")[0], config)
    db.conn.close()

    summary = await run_watch(db_file, config)

    assert summary.sources == 1 and summary.pages == 2  # the album and its "home" link
    rows = reuploads(db_file)
    copies = {world.url(r): r for r in world.plan.reuploads()}
    assert {r["url"] for r in rows} == set(copies)
    for row in rows:
        copy = copies[row["url"]]
        assert row["of_report_id"] == ids[copy.of]
        assert row["of_known_hash_id"] is None
        assert row["hoster"] == "Copy Host"  # who serves it, not the original hoster
        assert row["asn"] == 64702
        assert row["page_url"] == world.gallery_urls("Copy Host")[0]
        assert row["tracked_report_id"] is not None
    db = store.connect(db_file)
    alerts = db.execute(
        "SELECT a.kind, h.name, a.subject FROM alerts a JOIN hosters h ON h.id = a.hoster_id"
    ).fetchall()
    tracked = db.execute(
        "SELECT count(*) FROM reports WHERE kind = 'reupload' AND next_check_at IS NOT NULL"
    ).fetchone()[0]
    db.conn.close()
    assert alerts and {name for _, name, _ in alerts} == {"Copy Host"}
    assert tracked == len(rows)
    for _, _, subject in alerts:  # the served copy's hashes, dHash included
        item = json.loads(subject)["item"]
        served = compute(world.body(copies[item["url"]]))
        assert item["hashes"]["dhash"] == served.dhash and item["hashes"]["pdq"] == served.pdq


async def test_allowlisted_image_never_matches(make_world, sim_dns, tmp_path):
    world, config, db_file = await _copy_world(make_world, sim_dns, tmp_path, ("mirror",), items=2)
    first, second = world.plan.reports()
    db = store.connect(db_file)
    set_baseline(db, world, first)
    set_baseline(db, world, second)
    benign = compute(world.body(first))
    hash_list(
        db,
        "stock-images",
        [("pdq", benign.pdq, "stock photo"), ("sha256", benign.sha256, "stock photo")],
        allowlist=True,
    )
    at(world, world.scenario.start + timedelta(days=3))
    add_source(db, world.gallery_urls("Copy Host")[0], config)
    db.conn.close()

    await run_watch(db_file, config)

    rows = reuploads(db_file)
    copy_of = {world.url(r): r.of for r in world.plan.reuploads()}
    assert [copy_of[r["url"]] for r in rows] == [second.id]  # the benign copy: nothing
    db = store.connect(db_file)
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] >= 1
    subjects = [s for (s,) in db.execute("SELECT subject FROM alerts")]
    db.conn.close()
    assert not any(
        world.url(r) in s for r in world.plan.reuploads() if r.of == first.id for s in subjects
    )


async def test_hash_list_entry_match_records_the_entry(make_world, sim_dns, tmp_path):
    world, config, db_file = await _copy_world(make_world, sim_dns, tmp_path, ("resize",), items=1)
    (original,) = world.plan.reports()
    (copy,) = world.plan.reuploads()
    db = store.connect(db_file)
    h = compute(world.body(original))
    ids = hash_list(db, "partner-list", [("pdq", h.pdq, "KNOWN-1"), ("md5", h.md5, "KNOWN-1")])
    at(world, world.scenario.start + timedelta(days=3))
    add_source(db, world.gallery_urls("Copy Host")[0], config)
    db.conn.close()

    await run_watch(db_file, config)

    (row,) = reuploads(db_file)
    assert row["url"] == world.url(copy)
    assert row["of_known_hash_id"] == ids[0] and row["of_report_id"] is None
    assert row["algorithm"] == "pdq" and row["hoster"] == "Copy Host"


async def test_depth_and_max_pages_bound_the_scan(make_world, tmp_path):
    # a hoster without images: every request the world serves is a page
    world = await make_world(copy_scenario(items=1, reupload_share=0.0, copy_galleries=5))
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    front = world.front_url("Copy Host")

    async def scan(depth: int, max_pages: int) -> int:
        db = store.connect(db_file)
        db.execute("DELETE FROM watch_sources")
        add_source(db, front, config, depth=depth, max_pages=max_pages)
        db.conn.close()
        before = world.requests
        summary = await run_watch(db_file, config)
        assert summary.pages == world.requests - before
        return world.requests - before

    assert await scan(0, 200) == 1  # the source page only
    assert await scan(1, 3) == 3  # front + 2 of the 5 albums
    assert await scan(1, 200) == 6  # front + 5 albums ("home" links back)
    assert await scan(2, 200) == 6  # nothing new further down


async def test_same_url_twice_is_one_row_with_last_seen_moved(make_world, sim_dns, tmp_path):
    world, config, db_file = await _copy_world(make_world, sim_dns, tmp_path, ("mirror",), items=1)
    (original,) = world.plan.reports()
    db = store.connect(db_file)
    set_baseline(db, world, original)
    first_at = world.scenario.start + timedelta(days=3)
    at(world, first_at)
    add_source(db, world.gallery_urls("Copy Host")[0], config)
    db.conn.close()
    await run_watch(db_file, config)
    (before,) = reuploads(db_file)

    second_at = first_at + timedelta(hours=25)
    at(world, second_at)
    summary = await run_watch(db_file, config)

    (after,) = reuploads(db_file)
    assert summary.sources == 1 and summary.seen_again == 1 and summary.new_reuploads == 0
    assert after["id"] == before["id"]
    assert after["first_seen_at"] == before["first_seen_at"] == clock.iso(first_at)
    assert after["last_seen_at"] == clock.iso(second_at)
    db = store.connect(db_file)
    assert db.execute("SELECT count(*) FROM reports WHERE kind = 'reupload'").fetchone()[0] == 1
    db.conn.close()


async def test_sources_are_rescanned_only_when_due(make_world, tmp_path):
    world = await make_world(copy_scenario(items=1, reupload_share=0.0))
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    t0 = world.scenario.start + timedelta(hours=1)
    at(world, t0)
    db = store.connect(db_file)
    source = add_source(db, world.gallery_urls("Origin Host")[0], config)
    db.conn.close()

    first = await run_watch(db_file, config)
    assert first.sources == 1 and first.pages == 2
    at(world, t0 + timedelta(hours=23))
    before = world.requests
    early = await run_watch(db_file, config)
    assert early.sources == 0 and world.requests == before
    at(world, t0 + timedelta(hours=24))
    again = await run_watch(db_file, config)
    assert again.sources == 1

    db = store.connect(db_file)
    row = db.execute(
        "SELECT last_scan_at, next_scan_at FROM watch_sources WHERE id = ?", [source["id"]]
    ).fetchone()
    db.conn.close()
    assert row == (clock.iso(t0 + timedelta(hours=24)), clock.iso(t0 + timedelta(hours=48)))


async def test_failures_are_counted_not_fatal(make_world, sim_dns, tmp_path):
    world = await make_world(copy_scenario(items=1, reupload_share=0.0))
    world.attach_dns(sim_dns)
    config = crawl_config(sim_dns)
    db_file = load_world(world, tmp_path, config)
    at(world, world.scenario.start + timedelta(hours=1))
    db = store.connect(db_file)
    add_source(db, world.base_url("Origin Host") + "/no-such-page.html", config)
    add_source(db, f"http://nowhere.ntd-sim.test:{world.port}/album.html", config)  # NXDOMAIN
    add_source(db, world.gallery_urls("Origin Host")[0], config)
    db.conn.close()

    summary = await run_watch(db_file, config)

    assert summary.sources == 3 and summary.images >= 1
    assert summary.errors.get("page/dns_nxdomain") == 1
    db = store.connect(db_file)
    due = db.execute(
        "SELECT count(*) FROM watch_sources WHERE next_scan_at <= ?", [clock.now_iso()]
    ).fetchone()[0]
    stats = db.execute("SELECT stats FROM crawls WHERE kind = 'watch'").fetchone()[0]
    db.conn.close()
    assert due == 0
    assert '"monitor/watch/pages/status/404": 1' in stats
