"""Re-uploads on reported pages: a recheck crawl of a reported gallery hashes its images and hands
each one to re-upload matching. Another report's material, or a hash-list entry's, at a new URL on
the page is a re-upload alerted to the hoster serving it; the page's own material is its recheck.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hashes.compute import compute
from hashes.synthetic import jpeg
from monitor import store
from monitor.core import clock
from monitor.intake.reports import import_reports
from monitor.reuploads.record import Recorder
from monitor.runners.crawl import run_crawl
from spiders.pipelines.reuploads import seen_image
from tests.crawl_helpers import at, crawl_config, load_world
from tests.watch_helpers import copy_scenario, hash_list, reuploads, set_baseline


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


@pytest.fixture
async def gallery(make_world, sim_dns, tmp_path):
    """Two reported items on 'Origin Host' (removed after 2h); their copies appear in the one
    album of 'Copy Host' some time apart (`early` first, then `late`)."""
    world = await make_world(copy_scenario(("resize",), items=2))
    world.attach_dns(sim_dns)
    config = crawl_config(sim_dns)
    db_file = load_world(world, tmp_path, config)
    early, late = sorted(world.plan.reuploads(), key=lambda r: r.appear_at)
    assert late.appear_at - early.appear_at >= timedelta(minutes=20)
    return world, config, db_file, early, late


def _original(world, copy):
    return next(r for r in world.plan.reports() if r.id == copy.of)


def _report_page(db, config, tmp_path, url: str, noticed, hashes=None) -> int:
    """Import `url` as a reported page, noticed at `noticed` (optionally with a baseline)."""
    h = hashes or {}
    path = tmp_path / "page.csv"
    path.write_text(
        "url,reference,reported_at,noticed_at,phash,pdq,sha256\n"
        f"{url},PAGE-1,{clock.iso(noticed)},{clock.iso(noticed)},"
        f"{h.get('phash', '')},{h.get('pdq', '')},{h.get('sha256', '')}\n"
    )
    assert import_reports(db, path, config).bad == 0
    return db.execute("SELECT id FROM reports WHERE reference = 'PAGE-1'").fetchone()[0]


def _alerts(db_file) -> list[tuple[str, dict]]:
    db = store.connect(db_file)
    rows = [
        (name, json.loads(subject)["item"])
        for name, subject in db.execute(
            "SELECT h.name, a.subject FROM alerts a JOIN hosters h ON h.id = a.hoster_id "
            "ORDER BY a.id"
        )
    ]
    db.conn.close()
    return rows


def _page_checks(db_file, page_id: int) -> list[tuple[str, str]]:
    db = store.connect(db_file)
    rows = db.execute(
        "SELECT outcome, reason FROM checks WHERE report_id = ? ORDER BY checked_at", [page_id]
    ).fetchall()
    db.conn.close()
    return rows


async def test_another_reports_material_appearing_on_a_reported_gallery(gallery, tmp_path):
    world, config, db_file, early, late = gallery
    album = world.gallery_urls("Copy Host")[0]
    first_check = early.appear_at + (late.appear_at - early.appear_at) / 2
    at(world, first_check - timedelta(hours=1))
    db = store.connect(db_file)
    ids = {it.id: set_baseline(db, world, it) for it in world.plan.reports()}
    page_id = _report_page(db, config, tmp_path, album, clock.now())
    db.conn.close()

    # First recheck: the album shows `early` only; it becomes the album's baseline.
    at(world, first_check)
    await run_crawl(db_file, config)
    assert _page_checks(db_file, page_id) == [("online", "first_check")]
    assert reuploads(db_file) == [] and _alerts(db_file) == []

    # Later `late` (a copy of the other report) is on the album too.
    at(world, late.appear_at + timedelta(hours=3))
    await run_crawl(db_file, config)

    assert _page_checks(db_file, page_id) == [("online", "first_check"), ("online", "hash_match")]
    (row,) = reuploads(db_file)
    assert row["url"] == world.url(late) and row["page_url"] == album
    assert row["of_report_id"] == ids[late.of] and row["of_known_hash_id"] is None
    assert row["hoster"] == "Copy Host" and row["asn"] == 64702
    assert row["tracked_report_id"] not in (None, page_id)
    alerts = _alerts(db_file)
    assert alerts and {name for name, _ in alerts} == {"Copy Host"}  # who serves it
    assert {item["url"] for _, item in alerts} == {world.url(late)}  # never the album's own
    served = compute(world.body(late))
    for _, item in alerts:
        assert item["page_url"] == album
        assert item["hashes"]["dhash"] == served.dhash  # for the hoster's lookup
        assert item["hashes"]["pdq"] == served.pdq


async def test_hash_list_entry_on_a_reported_gallery(gallery, tmp_path):
    world, config, db_file, early, late = gallery
    album = world.gallery_urls("Copy Host")[0]
    when = late.appear_at + timedelta(hours=3)
    at(world, when - timedelta(hours=1))
    db = store.connect(db_file)
    own = compute(world.body(early))  # the analyst confirmed `early` on the album
    page_id = _report_page(
        db,
        config,
        tmp_path,
        album,
        clock.now(),
        {"phash": own.phash, "pdq": own.pdq, "sha256": own.sha256},
    )
    listed = compute(world.body(_original(world, late)))
    (entry,) = hash_list(db, "partner-list", [("pdq", listed.pdq, "KNOWN-7")])
    db.conn.close()

    at(world, when)
    await run_crawl(db_file, config)

    assert _page_checks(db_file, page_id) == [("online", "hash_match")]
    (row,) = reuploads(db_file)
    assert row["url"] == world.url(late) and row["page_url"] == album
    assert row["of_known_hash_id"] == entry and row["of_report_id"] is None
    assert row["algorithm"] == "pdq" and row["hoster"] == "Copy Host"
    assert {name for name, _ in _alerts(db_file)} == {"Copy Host"}


async def test_page_without_baseline_yet_records_nothing(gallery, tmp_path):
    world, config, db_file, early, late = gallery
    album = world.gallery_urls("Copy Host")[0]
    when = late.appear_at + timedelta(hours=3)
    at(world, when - timedelta(hours=1))
    db = store.connect(db_file)
    for it in world.plan.reports():
        set_baseline(db, world, it)
    page_id = _report_page(db, config, tmp_path, album, clock.now())
    db.conn.close()

    at(world, when)
    await run_crawl(db_file, config)

    # both copies match a report, but what the album was reported for is not known yet
    assert _page_checks(db_file, page_id) == [("online", "first_check")]
    assert reuploads(db_file) == [] and _alerts(db_file) == []


async def test_the_rechecked_report_is_known_even_when_the_page_moved(gallery, tmp_path):
    """A recheck that reached the page through a redirect sees it at another URL: naming the
    report on the SeenImage keeps its own material from becoming a re-upload of itself."""
    world, config, db_file, early, _late = gallery
    album = world.gallery_urls("Copy Host")[0]
    at(world, early.appear_at + timedelta(hours=1))
    db = store.connect(db_file)
    h = compute(world.body(early))
    page_id = _report_page(
        db, config, tmp_path, album, clock.now(), {"pdq": h.pdq, "sha256": h.sha256}
    )
    moved = world.base_url("Copy Host") + "/g/0/index.html"
    ip = world.sites["Copy Host"].hoster.ip

    hinted = seen_image(world.url(early), moved, ip, h, report_id=page_id)
    assert (await Recorder(db, config).observe(hinted)).found == 0
    assert reuploads(db_file) == []
    unhinted = seen_image(world.url(early), moved, ip, h)
    assert (await Recorder(db, config).observe(unhinted)).found == 1  # what the hint prevents
    db.conn.close()


def test_seen_image_carries_dhash_only_when_usable():
    big = compute(jpeg(seed=5, size=(256, 256)))  # generated benign images only
    small = compute(jpeg(seed=5, size=(32, 32)))
    assert big.usable and not small.usable
    seen = seen_image("http://a.example/x.png", "http://a.example/", None, big)
    assert seen.dhash == big.dhash and seen.phash == big.phash and seen.report_id is None
    tiny = seen_image("http://a.example/y.png", "http://a.example/", None, small, report_id=3)
    assert tiny.dhash is None and tiny.phash is None and tiny.pdq is None
    assert tiny.sha256 == small.sha256 and tiny.report_id == 3
