"""The match process (monitor.reuploads.match_worker): it builds the same index the crawl loop
would,
answers a batch exactly as the in-process Matcher does, survives being killed, and says
clearly why when it cannot build its index. Real child processes, real SQLite stores."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from hashes.compute import compute
from hashes.synthetic import encode, image, jpeg
from monitor import store
from monitor.core import clock
from monitor.core.config import Config
from monitor.intake.reports import import_reports
from monitor.reuploads.match_worker import MatchWorker, MatchWorkerFailed
from monitor.reuploads.record import Recorder, load_index
from spiders.pipelines.reuploads import seen_image
from tests.watch_helpers import hash_list, reuploads


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


@pytest.fixture
def listed(tmp_path):
    """A store with a hash list holding two images (one by PDQ, one by MD5), an allowlist
    holding a third, and a stored report baseline for a fourth; the hashes of five images
    (the fifth is in no list)."""
    images = [compute(jpeg(seed, (320, 240))) for seed in (11, 12, 13, 14, 15)]
    a, b, benign, reported, _ = images
    db_file = tmp_path / "match.db"
    db = store.connect(db_file)
    listed_ids = hash_list(
        db, "partner", [("pdq", a.pdq, "first"), ("md5", b.md5, None), ("pdq", "f" * 64, "noise")]
    )
    hash_list(db, "benign", [("pdq", benign.pdq, None)], allowlist=True)
    reports = tmp_path / "reports.csv"
    reports.write_text(f"url,reference,pdq\nhttp://127.0.0.1/r.jpg,CASE-1,{reported.pdq}\n")
    assert import_reports(db, reports, Config()).bad == 0
    rid = db.execute("SELECT id FROM reports WHERE reference = 'CASE-1'").fetchone()[0]
    db.conn.close()
    return db_file, images, listed_ids, rid


def _found(batch) -> list[set]:
    return [{(m.ref, m.algorithm, m.list_name, m.label, m.strength) for m in ms} for ms in batch]


async def test_match_process_answers_as_the_loop_would(listed):
    db_file, images, (pdq_id, md5_id, _), rid = listed
    config = Config()
    db = store.connect(db_file)
    here = load_index(db, config)
    db.conn.close()
    worker = MatchWorker(db_file, config)
    try:
        view = await worker.index()
        batch = await worker.match_many(images)
    finally:
        worker.close()

    assert view.matcher is None  # the index stayed in the child
    assert view.entries == here.entries == 5
    assert view.with_baseline == here.with_baseline == {rid}
    assert _found(batch) == _found(here.matcher.match_many(images))
    a, b, benign, reported, other = _found(batch)
    assert {ref for ref, *_ in a} == {("known", pdq_id)}
    assert {ref for ref, *_ in b} == {("known", md5_id)}
    assert benign == set() and other == set()  # allowlisted, and in no list
    assert {ref for ref, *_ in reported} == {("report", rid)}
    assert worker.images == 5 and worker.index_seconds > 0


async def test_killed_match_process_is_replaced_and_the_batch_answered(listed):
    db_file, images, (pdq_id, *_), _ = listed
    worker = MatchWorker(db_file, Config())
    try:
        await worker.index()
        first = worker.pid
        os.kill(first, signal.SIGKILL)
        os.waitpid(first, 0)  # dead before the next batch is sent
        batch = await worker.match_many(images[:1])
        assert worker.pid != first  # a new child, with the index rebuilt
    finally:
        worker.close()
    assert {m.ref for m in batch[0]} == {("known", pdq_id)}


async def test_match_process_that_cannot_build_says_why(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    worker = MatchWorker(junk, Config())
    try:
        with pytest.raises(MatchWorkerFailed, match="could not build its index"):
            await worker.match_many([compute(jpeg(1, (64, 64)))])
    finally:
        worker.close()


async def test_thresholds_from_the_config_apply_in_the_child(listed):
    """The child builds its Matcher from the crawl's config: a PDQ threshold of 0 still finds
    the identical image, and a resized copy only under the default threshold."""
    db_file, images, (pdq_id, *_), _ = listed
    resized = compute(encode(image(11, (320, 240)).resize((200, 150))))  # the listed image
    strict = replace(Config(), hashes=replace(Config().hashes, pdq_threshold=0))
    found = {}
    for name, config in (("default", Config()), ("strict", strict)):
        worker = MatchWorker(db_file, config)
        try:
            found[name] = _found(await worker.match_many([images[0], resized]))
        finally:
            worker.close()
    assert found["default"][1] and found["strict"][0]
    assert not found["strict"][1]


async def test_recorder_matches_in_the_crawl_process_when_the_match_process_fails(listed, tmp_path):
    """No image is lost to a broken match process: the Recorder says why and matches in the
    crawl process from then on."""
    db_file, images, (pdq_id, *_), _ = listed
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    db = store.connect(db_file)
    recorder = Recorder(db, Config(), worker=MatchWorker(junk, Config()))
    seen = seen_image(
        "http://127.0.0.1:9/copy.jpg", "http://127.0.0.1:9/page.html", None, images[0]
    )
    try:
        out = await recorder.observe(seen)
    finally:
        db.conn.close()
    assert out.found == 1 and out.recorded == 1
    assert recorder.worker is None and "could not build its index" in recorder.worker_failed
    assert [r["of_known_hash_id"] for r in reuploads(db_file)] == [pdq_id]


def _match_children() -> list[int]:
    """Live child processes of this test process that run the match process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"monitor.reuploads.match_worker" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("after", [0.0, 0.3, 1.5])
async def test_closing_while_the_index_builds_leaves_no_process(listed, after):
    """A crawl that ends while its match process is starting or building stops it."""
    db_file, *_ = listed
    worker = MatchWorker(db_file, Config())
    worker.start_soon()
    await asyncio.sleep(after)
    worker.close()
    await asyncio.sleep(0.05)
    assert _match_children() == []
