"""Re-upload matching of seen images (the reuploads pipeline's core), including images seen on
reported pages during a recheck: what is a re-upload, and what is the report's own recheck."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hashes.compute import compute
from monitor import store
from monitor.core import clock
from monitor.intake.reports import import_reports
from monitor.reuploads.record import Recorder, load_index
from spiders.pipelines.reuploads import seen_image
from tests.crawl_helpers import at, crawl_config, load_world
from tests.watch_helpers import copy_scenario, hash_list, report_id, reuploads, set_baseline


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


@pytest.fixture
async def copies(make_world, sim_dns, tmp_path):
    world = await make_world(copy_scenario(("mirror",), items=2))
    world.attach_dns(sim_dns)
    config = crawl_config(sim_dns)
    db_file = load_world(world, tmp_path, config)
    at(world, world.scenario.start + timedelta(days=3))
    return world, config, db_file


def _report_pages(db, config, tmp_path, urls_: list[str]) -> None:
    path = tmp_path / "pages.csv"
    path.write_text("url,reference\n" + "".join(f"{u},PAGE-{n}\n" for n, u in enumerate(urls_)))
    assert import_reports(db, path, config).bad == 0


def _seen(world, item, page_url: str):
    ip = world.sites[item.hoster].hoster.ip
    return seen_image(world.url(item), page_url, ip, compute(world.body(item)))


async def test_images_on_a_reported_gallery_page(copies, tmp_path):
    """A recheck of a reported album hashes its images: the album's own material is its
    recheck; another report's material on it is a re-upload found on that page."""
    world, config, db_file = copies
    first, second = world.plan.reports()
    copy_of_second = next(r for r in world.plan.reuploads() if r.of == second.id)
    album = world.gallery_urls("Copy Host")[0]
    db = store.connect(db_file)
    _report_pages(db, config, tmp_path, [album])
    page_id = db.execute("SELECT id FROM reports WHERE reference = 'PAGE-0'").fetchone()[0]
    # the album's baseline is the first copy (what the analyst confirmed on it)
    copy_of_first = next(r for r in world.plan.reuploads() if r.of == first.id)
    h = compute(world.body(copy_of_first))
    db.execute(
        "INSERT INTO report_hashes (report_id, algorithm, hash, origin, created_at) "
        "VALUES (?, 'pdq', ?, 'first_check', ?)",
        [page_id, h.pdq, clock.now_iso()],
    )
    set_baseline(db, world, first)
    second_id = set_baseline(db, world, second)
    recorder = Recorder(db, config)

    own = await recorder.observe(_seen(world, copy_of_first, album))
    other = await recorder.observe(_seen(world, copy_of_second, album))

    assert own.found == 0  # matches the album's report and `first`: skip
    assert other.found == 1 and other.recorded == 1
    (row,) = reuploads(db_file)
    assert row["of_report_id"] == second_id and row["page_url"] == album
    assert row["url"] == world.url(copy_of_second) and row["hoster"] == "Copy Host"
    db.conn.close()


async def test_reported_url_serving_its_own_material_is_not_a_reupload(copies):
    world, config, db_file = copies
    first, second = world.plan.reports()
    db = store.connect(db_file)
    set_baseline(db, world, first)
    set_baseline(db, world, second)
    recorder = Recorder(db, config)
    page = world.gallery_urls("Origin Host")[0]

    result = await recorder.observe(_seen(world, first, page))  # e.g. after its takedown

    assert result.found == 0 and reuploads(db_file) == []
    db.conn.close()


async def test_reported_url_without_baseline_is_left_to_its_recheck(copies):
    world, config, db_file = copies
    first, _second = world.plan.reports()
    db = store.connect(db_file)
    h = compute(world.body(first))
    hash_list(db, "partner", [("sha256", h.sha256, "K1")])
    recorder = Recorder(db, config)

    result = await recorder.observe(_seen(world, first, world.gallery_urls("Origin Host")[0]))

    assert result.found == 0  # its report has no baseline yet
    db.conn.close()


async def test_copy_of_a_tracked_reupload_counts_for_the_original(copies):
    world, config, db_file = copies
    first, _second = world.plan.reports()
    copy = next(r for r in world.plan.reuploads() if r.of == first.id)
    album = world.gallery_urls("Copy Host")[0]
    db = store.connect(db_file)
    first_id = set_baseline(db, world, first)
    assert (await Recorder(db, config).observe(_seen(world, copy, album))).recorded == 1
    at(world, world.scenario.start + timedelta(days=4))

    # the next crawl's index also holds the tracked re-upload's own baseline
    again = await Recorder(db, config).observe(_seen(world, copy, album))

    assert again.found == 1 and again.seen_again == 1 and again.recorded == 0
    (row,) = reuploads(db_file)
    assert row["of_report_id"] == first_id
    assert row["last_seen_at"] == clock.iso(world.scenario.start + timedelta(days=4))
    db.conn.close()


async def test_index_holds_every_baseline_and_list(copies):
    world, config, db_file = copies
    first, second = world.plan.reports()
    db = store.connect(db_file)
    set_baseline(db, world, first)
    set_baseline(db, world, second, algorithms=("sha256",))
    hash_list(db, "partner", [("md5", "0" * 32, "a"), ("pdq", "f" * 64, "b")])
    hash_list(db, "benign", [("sha256", "1" * 64, None)], allowlist=True)
    db.execute(
        "INSERT INTO report_hashes (report_id, algorithm, hash, origin, created_at) "
        "VALUES (?, 'phash', 'not-hex', 'imported', ?)",
        [report_id(db, world, second), clock.now_iso()],
    )
    db.execute(
        "INSERT INTO report_hashes (report_id, algorithm, hash, origin, created_at) "
        "VALUES (?, 'phash', ?, 'imported', ?)",  # right length, not hex
        [report_id(db, world, second), "z" * 16, clock.now_iso()],
    )

    index = load_index(db, config)

    assert index.entries == 3 + 1 + 2 + 1  # the malformed stored rows are left out
    assert index.with_baseline == {report_id(db, world, first), report_id(db, world, second)}
    db.conn.close()


async def test_index_loads_lists_in_bulk_and_row_by_row_alike(copies):
    """load_index reads a list per algorithm as one string; a part with a malformed stored row
    is read row by row instead (that row left out). Either way every entry, its ref and its
    label are there, and the same images match."""
    world, config, db_file = copies
    first, second = world.plan.reports()
    db = store.connect(db_file)
    a, b = compute(world.body(first)), compute(world.body(second))
    clean = hash_list(
        db,
        "clean",
        [
            ("pdq", a.pdq, "first"),
            ("phash", a.phash, None),
            ("md5", b.md5, "second-md5"),
            ("sha256", b.sha256, None),
        ],
    )
    dirty = hash_list(
        db,
        "dirty",
        [
            ("pdq", b.pdq.upper(), "second"),
            ("pdq", "zz" * 32, "bad"),
            ("md5", a.md5, None),
            ("md5", "0x12", "short"),
        ],
    )

    index = load_index(db, config)

    assert index.entries == 4 + 2
    found = {
        (m.list_name, m.ref, m.algorithm, m.label)
        for ms in index.matcher.match_many([a, b])
        for m in ms
    }
    assert found == {
        ("clean", ("known", clean[0]), "pdq", "first"),
        ("clean", ("known", clean[2]), "md5", "second-md5"),
        ("clean", ("known", clean[3]), "sha256", None),
        ("dirty", ("known", dirty[0]), "pdq", "second"),
        ("dirty", ("known", dirty[2]), "md5", None),
    }
    db.conn.close()


async def test_a_bad_record_in_a_page_batch_loses_only_itself(copies):
    """The pipeline matches a page's images as one batch; when the batch fails, each image is
    tried alone, so the good ones are still recorded and only the bad one is counted."""
    from dataclasses import replace
    from types import SimpleNamespace

    from scrapy.settings import Settings
    from scrapy.statscollectors import MemoryStatsCollector

    from spiders.items import SeenImages
    from spiders.pipelines.reuploads import ReuploadPipeline

    world, config, db_file = copies
    db = store.connect(db_file)
    for item in world.plan.reports():
        set_baseline(db, world, item)
    db.conn.close()
    page = world.gallery_urls("Copy Host")[0]
    good, other = (_seen(world, c, page) for c in world.plan.reuploads())
    bad = replace(other, pdq="zz" * 32, pdq_dihedral=("zz" * 32,) * 8)  # not hex
    crawler = SimpleNamespace(
        settings=Settings(), spider=SimpleNamespace(db_path=str(db_file), config=config)
    )
    crawler.stats = MemoryStatsCollector(crawler)
    pipeline = ReuploadPipeline(crawler)
    pipeline.open_spider()

    batch = SeenImages(page, (bad, good))
    assert await pipeline.process_item(batch) is batch
    pipeline.close_spider()

    stats = crawler.stats.get_stats()
    assert stats["monitor/reuploads/images"] == 2 and stats["monitor/reuploads/recorded"] == 1
    assert [k for k in stats if k.startswith("monitor/reuploads/error/")] == [
        "monitor/reuploads/error/ValueError"
    ]
    assert [r["url"] for r in reuploads(db_file)] == [good.url]
