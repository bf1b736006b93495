"""Watch scans find video re-uploads by vPDQ, and alert the hoster serving them like images.

A loopback aiohttp app serves one gallery page with generated benign clips (hashes.synthetic_video):
re-uploads of two reported videos (re-encoded at another bitrate, resized, trimmed, framed by
a border; embedded with <video><source>, <video src>, og:video, or linked), a copy of a hash
list's video, a video on an allowlist, unrelated videos, and the reported URL itself. The
reports' baselines are their dense vPDQ signatures (as an import stores them); the hash lists
hold `vpdq` entries. One real watch scan (monitor.runners.watch.run_watch); attribution through
an offline routing table (127.0.0.0/8 -> AS 64990, a hoster with an abuse address).
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from aiohttp import web

from hashes import synthetic_video as sv
from hashes.video import compute_video, video_signature
from hashes.video_compare import BASELINE_SECONDS_PER_HASH
from hashes.video_text import to_text
from monitor import store
from monitor.core import clock
from monitor.intake.hosters import import_hosters
from monitor.reuploads.watch_sources import add_source
from monitor.runners.watch import run_watch
from tests.crawl_helpers import crawl_config

NOW = "2026-03-02T00:00:00Z"
PREFIX = 256 * 1024


@cache
def clip(seed: int) -> bytes:
    return sv.clip(seed, seconds=12, crf=28)


# path -> (bytes, what it is: "copy of A" ...)
@cache
def files() -> dict[str, tuple[bytes, str]]:
    a, b, k, allowed = clip(21), clip(22), clip(23), clip(24)
    return {
        "/v/a.mp4": (a, "reported A"),
        "/up/a-bitrate.mp4": (sv.variant(a, crf=None, bitrate=60_000), "A"),
        "/up/a-resized.mp4": (sv.variant(a, scale=0.6), "A"),
        "/up/b-trimmed.mp4": (sv.variant(b, trim_start=1.4, trim_end=1.0), "B"),
        "/up/b-border.webm": (sv.variant(b, border=0.1), "B"),
        "/up/k-copy.mp4": (sv.variant(k, crf=None, bitrate=80_000), "K"),
        "/up/allowed.mp4": (allowed, "allowlisted"),
        "/up/other1.mp4": (clip(31), "unrelated"),
        "/up/other2.mp4": (clip(32), "unrelated"),
    }


GALLERY = b"""<!doctype html><html><head><title>album</title>
<meta property="og:video" content="/up/a-bitrate.mp4"></head><body>
<video controls><source src="/up/a-resized.mp4" type="video/mp4"></video>
<video src="/up/b-trimmed.mp4"></video>
<a href="/up/b-border.webm">clip</a> <a href="/up/k-copy.mp4">clip</a>
<video><source src="/up/allowed.mp4"></video>
<video><source src="/up/other1.mp4"></video><a href="/up/other2.mp4">x</a>
<video><source src="/v/a.mp4"></video>
</body></html>"""


def app() -> web.Application:
    async def gallery(request: web.Request) -> web.Response:
        return web.Response(body=GALLERY, content_type="text/html")

    async def video(request: web.Request) -> web.Response:
        data, _ = files()[request.path]
        kind = "video/webm" if request.path.endswith(".webm") else "video/mp4"
        return web.Response(body=data, content_type=kind)  # whole: ranges ignored (cut)

    application = web.Application()
    application.router.add_get("/album", gallery)
    for path in files():
        application.router.add_get(path, video)
    return application


def _signature(data: bytes) -> str:
    return to_text(video_signature(data, seconds_per_hash=BASELINE_SECONDS_PER_HASH))


async def _scan(tmp_path: Path):
    files()  # made before serving: encoding would hold the event loop
    runner = web.AppRunner(app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    routes = tmp_path / "routes.txt"
    routes.write_text("127.0.0.0/8 64990\n")
    config = crawl_config(video_prefix_bytes=PREFIX)
    config = replace(config, asn=replace(config.asn, routing_table=str(routes)))
    db_file = tmp_path / "w.db"
    db = store.connect(db_file)
    (tmp_path / "h.csv").write_text("name,asn,abuse_email\nLoop Hosting,64990,abuse@loop.test\n")
    assert import_hosters(db, tmp_path / "h.csv").bad == 0
    ids = {}
    for ref, seed, url in (("A", 21, f"{base}/v/a.mp4"), ("B", 22, f"{base}/gone/b.mp4")):
        ids[ref] = (
            db["reports"]
            .insert(
                {
                    "url": url,
                    "url_key": url,
                    "reference": ref,
                    "reported_at": "2026-03-01T00:00:00Z",
                    "noticed_at": "2026-03-01T00:00:00Z",
                    "imported_at": "2026-03-01T00:00:00Z",
                }
            )
            .last_pk
        )
        db["report_hashes"].insert(
            {
                "report_id": ids[ref],
                "algorithm": "vpdq",
                "hash": _signature(clip(seed)),
                "origin": "imported",
                "created_at": "2026-03-01T00:00:00Z",
            }
        )
    for name, allow, seed in (("videos", 0, 23), ("benign", 1, 24)):
        list_id = (
            db["hash_lists"]
            .insert({"name": name, "allowlist": allow, "created_at": "2026-03-01T00:00:00Z"})
            .last_pk
        )
        db["known_hashes"].insert(
            {"list_id": list_id, "algorithm": "vpdq", "hash": _signature(clip(seed)), "label": name}
        )
    clock.fix(clock.parse(NOW))
    add_source(db, f"{base}/album", config)
    db.conn.close()
    try:
        summary = await run_watch(db_file, config)
    finally:
        clock.fix(None)
        await runner.cleanup()
    db = store.connect(db_file)
    try:
        rows = db.execute(
            "SELECT u.url, u.algorithm, u.distance, r.reference, k.label, h.name "
            "FROM reuploads u LEFT JOIN reports r ON r.id = u.of_report_id "
            "LEFT JOIN known_hashes k ON k.id = u.of_known_hash_id "
            "LEFT JOIN hosters h ON h.id = u.hoster_id"
        ).fetchall()
        alerts = db.execute("SELECT kind, subject FROM alerts").fetchall()
        tracked = db.execute(
            "SELECT count(*) FROM reports r JOIN report_hashes h ON h.report_id = r.id "
            "WHERE r.kind = 'reupload' AND h.algorithm = 'vpdq'"
        ).fetchone()[0]
    finally:
        db.conn.close()
    return base, summary, rows, alerts, tracked


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    import asyncio

    return asyncio.run(_scan(tmp_path_factory.mktemp("vwatch")))


def test_every_video_reupload_is_found_and_nothing_else(scanned) -> None:
    base, summary, rows, _, _ = scanned
    found = {url.removeprefix(base): (ref or label) for url, _, _, ref, label, _ in rows}
    expected = {path: what for path, (_, what) in files().items() if what in ("A", "B", "K")}
    assert found == {p: ("videos" if w == "K" else w) for p, w in expected.items()}
    assert summary.videos == len(files())  # every video was read and hashed


def test_a_video_reupload_is_recorded_as_vpdq_and_attributed(scanned) -> None:
    _, _, rows, _, _ = scanned
    for _, algorithm, distance, _, _, hoster in rows:
        assert algorithm == "vpdq" and 0 <= distance <= 20
        assert hoster == "Loop Hosting"


def test_a_video_reupload_alerts_its_hoster(scanned) -> None:
    base, _, rows, alerts, tracked = scanned
    assert alerts, "no alert queued"
    urls = set()
    for _, subject in alerts:
        item = json.loads(subject)["item"]
        urls.add(item["url"])
        assert "vpdq" not in item["hashes"]  # digests only (none for a prefix), no signature
    assert urls == {url for url, *_ in rows}
    assert tracked == len(rows)  # each copy's own takedown is measured against its signature


def test_a_seen_video_travels_as_json_and_is_matched_after(tmp_path) -> None:
    """Distributed mode: a worker's SeenVideo goes through the Redis stream as JSON; the
    writer's record (lists for tuples) gives the same frames back."""
    from monitor.distributed.keys import decode_item, encode_item
    from monitor.reuploads.videos import frames_of
    from spiders.items import SeenVideo

    sig = video_signature(clip(21))
    seen = SeenVideo(
        "http://127.0.0.1/v.mp4",
        "http://127.0.0.1/",
        "127.0.0.1",
        NOW,
        tuple(
            (f.frame, f.quality, f.pdq, f.timestamp, f.inner_pdq, f.inner_quality)
            for f in sig.frames
        ),
    )
    kind, back = decode_item(encode_item(seen))
    assert kind == "SeenVideo"
    assert frames_of(back) == frames_of(seen) == sig.frames


async def test_video_matching_goes_on_when_the_match_process_fails(tmp_path) -> None:
    """No video is lost to a broken match process: the target rules come from the crawl
    process from then on, as for images."""
    from monitor.core.config import Config
    from monitor.reuploads.match_worker import MatchWorker
    from monitor.reuploads.record import Recorder
    from spiders.watch_videos import seen_video

    db_file = tmp_path / "m.db"
    db = store.connect(db_file)
    list_id = (
        db["hash_lists"]
        .insert({"name": "videos", "allowlist": 0, "created_at": "2026-03-01T00:00:00Z"})
        .last_pk
    )
    known = (
        db["known_hashes"]
        .insert(
            {"list_id": list_id, "algorithm": "vpdq", "hash": _signature(clip(23)), "label": "k"}
        )
        .last_pk
    )
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    recorder = Recorder(db, Config(), worker=MatchWorker(junk, Config()))
    copy = sv.variant(clip(23), crf=None, bitrate=80_000)

    seen = seen_video(
        "http://127.0.0.1:9/copy.mp4", "http://127.0.0.1:9/", None, compute_video(copy)
    )
    try:
        out = await recorder.observe_videos([seen])
        kept = db.execute("SELECT of_known_hash_id, algorithm FROM reuploads").fetchall()
    finally:
        db.conn.close()
    assert out.found == 1 and out.recorded == 1
    assert recorder.worker is None and "could not build its index" in recorder.worker_failed
    assert kept == [(known, "vpdq")]
