"""Rechecks of reported videos: exact digest when read whole, vPDQ otherwise, from a prefix.

A loopback aiohttp app serves generated benign clips (hashes.synthetic_video) per case at
`/v/<case>`, honouring byte ranges or not as the case says. Each case is one report whose
baseline is the original clip's dense vPDQ signature (and its sha256), stored as an import
would; one real recheck crawl (monitor.runners.crawl.run_crawl) checks them all, with a 64 KiB
video prefix and a 100 KB max_download_bytes, so that "read a prefix, not the file" is seen in
each check's `size`. One case has no baseline: its first check takes one from a prefix, and a
second crawl matches against it.

| case | server does | outcome | reason |
|---|---|---|---|
| small_whole | the reported small clip (< prefix), ranges | online | hash_match sha |
| big_ranged | the reported clip (> prefix), ranges | online | hash_match vpdq |
| big_no_ranges | the same, ignoring Range (200, whole body) | online | hash_match vpdq |
| reencoded | the clip re-encoded at another bitrate | online | hash_match vpdq |
| as_html_404 | the reported clip as text/html with status 404 | online | hash_match |
| other_video | an unrelated clip | removed | content_changed |
| other_no_range | an unrelated clip, ignoring Range | removed | content_changed |
| corrupt | a container header, then garbage (read whole) | removed | corrupt_video |
| index_at_end | the clip with its index after the media, > reads | unreachable | video_truncated |
| wrong_range | 206 with bytes from the middle of the file | unreachable | other_error |
| image_now | an image where the video was (control) | removed | content_changed |
| too_many_pixels | a 4096x2304 video (over the 3840x2160 bound) | unreachable | too_large |
| page_video | an HTML page (the reported URL) embedding the clip | online | hash_match vpdq |
| page_other_video | the page embedding an unrelated clip | removed | content_changed |
| redirected_no_ranges | a 302 (HTML body) to the clip, ranges ignored | online | hash_match vpdq |
| redirected_gzip_bomb | a 302 to 16 MiB of zeros gzipped, as video/mp4 | unreachable | too_large |
| not_a_video | 300 KB noise as video/mp4, no ranges, > max size | unreachable | too_large |
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import pickle
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from aiohttp import web

from hashes import synthetic, synthetic_video
from hashes.video import video_signature
from hashes.video_compare import BASELINE_SECONDS_PER_HASH
from hashes.video_text import to_text
from monitor import store
from monitor.core import clock
from monitor.intake.reports import import_reports
from monitor.runners.crawl import run_crawl
from tests.crawl_helpers import crawl_config

NOTICED = "2026-03-01T00:00:00Z"
FIRST = "2026-03-01T01:01:00Z"  # the 1 h slot is due
SECOND = "2026-03-01T02:01:00Z"  # the 2 h slot
PREFIX = 64 * 1024
MAX_BYTES = 100_000
PIECE = 16 * 1024  # what the server writes at a time when it sends a whole file
SLACK = 4 * PIECE  # a cut body may hold what had arrived beyond the prefix


@cache
def original() -> bytes:
    return synthetic_video.clip(11, seconds=60, crf=30)


@cache
def small() -> bytes:
    return synthetic_video.clip(12, size=(96, 72), seconds=3, crf=35)


@cache
def other() -> bytes:
    return synthetic_video.clip(13, seconds=60, crf=30)


@cache
def reencoded() -> bytes:
    return synthetic_video.variant(original(), crf=None, bitrate=40_000)


@cache
def index_at_end() -> bytes:
    return synthetic_video.clip(11, seconds=60, crf=23, layout="end")


@cache
def huge() -> bytes:
    return synthetic_video.clip(14, size=(4096, 2304), seconds=1, fps=2, crf=40)


@cache
def image() -> bytes:
    return synthetic.jpeg(5, (320, 240))


@dataclass(frozen=True)
class Case:
    id: str
    body: object  # a function giving the bytes served
    reported: object  # the bytes of the reported material (its baseline)
    ranges: str = "yes"  # yes | no | wrong
    status: int = 200
    content_type: str = "video/mp4"
    outcome: str = "online"
    reasons: tuple[str, ...] = ("hash_match",)
    algorithm: str | None = None
    max_size: int | None = None  # the check read at most this many bytes
    page: bool = False  # the reported URL is an HTML page embedding the video (/p/<case>)
    redirect: bool = False  # /v/<case> answers 302 (with an HTML body) to /r/<case>
    encoding: str | None = None  # Content-Encoding of a whole body


CASES = (
    Case("small_whole", small, small, algorithm="sha256"),
    Case("big_ranged", original, original, algorithm="vpdq", max_size=PREFIX),
    Case("big_no_ranges", original, original, "no", algorithm="vpdq", max_size=PREFIX + SLACK),
    Case("reencoded", reencoded, original, algorithm="vpdq"),
    Case("as_html_404", original, original, "no", 404, "text/html"),
    Case("other_video", other, original, outcome="removed", reasons=("content_changed",)),
    Case("other_no_range", other, original, "no", outcome="removed", reasons=("content_changed",)),
    Case(
        "corrupt",
        lambda: original()[:2000] + synthetic_video.garbage(3000),
        original,
        outcome="removed",
        reasons=("corrupt_video",),
    ),
    Case(
        "index_at_end",
        index_at_end,
        original,
        outcome="unreachable",
        reasons=("video_truncated",),
    ),
    Case(
        "wrong_range", original, original, "wrong", outcome="unreachable", reasons=("other_error",)
    ),
    Case(
        "too_many_pixels",
        huge,
        original,
        outcome="unreachable",
        reasons=("too_large",),
    ),
    Case("page_video", original, original, page=True, algorithm="vpdq"),
    Case(
        "page_other_video",
        other,
        original,
        page=True,
        outcome="removed",
        reasons=("content_changed",),
    ),
    Case(
        "redirected_no_ranges",
        original,
        original,
        "no",
        redirect=True,
        algorithm="vpdq",
        max_size=PREFIX + SLACK,
    ),
    Case(
        "redirected_gzip_bomb",
        lambda: gzip.compress(bytes(16 * 1024 * 1024)),
        original,
        "no",
        redirect=True,
        encoding="gzip",
        outcome="unreachable",
        reasons=("too_large",),
    ),
    Case(
        "not_a_video",
        lambda: synthetic_video.garbage(300_000),
        original,
        "no",
        outcome="unreachable",
        reasons=("too_large",),
    ),
    Case(
        "image_now",
        image,
        original,
        content_type="image/jpeg",
        outcome="removed",
        reasons=("content_changed",),
    ),
)
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def app(cases, sent: dict[str, int]) -> web.Application:
    by_id = {c.id: c for c in cases}

    async def serve(request: web.Request) -> web.StreamResponse:
        case = by_id[request.match_info["case"]]
        if case.redirect and request.path.startswith("/v/"):  # a 302 with a body of its own
            return web.Response(
                status=302,
                headers={"Location": f"/r/{case.id}"},
                text="<html>" + "moved " * 500 + "</html>",
                content_type="text/html",
            )
        body = case.body()
        asked = _RANGE.fullmatch(request.headers.get("Range", ""))
        if asked and case.ranges in ("yes", "wrong"):
            first, last = int(asked.group(1)), asked.group(2)
            if case.ranges == "wrong":
                first = len(body) // 2
            end = min(len(body) - 1, int(last) if last else len(body) - 1)
            part = body[first : end + 1]
            sent[case.id] = sent.get(case.id, 0) + len(part)
            return web.Response(
                status=206,
                body=part,
                content_type=case.content_type,
                headers={"Content-Range": f"bytes {first}-{end}/{len(body)}"},
            )
        response = web.StreamResponse(status=case.status)
        response.content_type = case.content_type
        response.content_length = len(body)
        if case.encoding:
            response.headers["Content-Encoding"] = case.encoding
        await response.prepare(request)
        try:  # in pieces, as a network delivers them: a client that stops reading stops this
            for at in range(0, len(body), PIECE):
                await response.write(body[at : at + PIECE])
                sent[case.id] = sent.get(case.id, 0) + len(body[at : at + PIECE])
                await asyncio.sleep(0)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def page(request: web.Request) -> web.Response:
        case = request.match_info["case"]
        html = f'<!doctype html><html><body><video controls><source src="/v/{case}"></video>'
        return web.Response(text=html + "</body></html>", content_type="text/html")

    application = web.Application()
    application.router.add_get("/v/{case}", serve)
    application.router.add_get("/p/{case}", page)
    application.router.add_get("/r/{case}", serve)
    return application


def _baseline(data: bytes) -> str:
    return to_text(video_signature(data, seconds_per_hash=BASELINE_SECONDS_PER_HASH))


async def _crawl(db_file: Path, config, when: str) -> dict[str, tuple]:
    clock.fix(clock.parse(when))
    await run_crawl(db_file, config, resolve_asn=False)
    db = store.connect(db_file)
    try:
        rows = db.execute(
            "SELECT r.reference, c.outcome, c.reason, c.algorithm, c.distance, c.size "
            "FROM checks c JOIN reports r ON r.id = c.report_id WHERE c.due_at <= ? "
            "ORDER BY c.id",
            [when],
        ).fetchall()
        stats = json.loads(db.execute("SELECT stats FROM crawls ORDER BY id DESC").fetchone()[0])
    finally:
        db.conn.close()
    out = {ref: tuple(rest) for ref, *rest in rows}
    out["_stats"] = stats
    return out


async def check_cases(directory: Path, cases=CASES) -> tuple[dict, dict, dict[str, int]]:
    """Serve `cases` (plus "first_check", a report without baseline), crawl at the 1 h and 2 h
    slots; each case's checks as seen, and the bytes the server sent per case."""
    sent: dict[str, int] = {}
    served = (
        *cases,
        Case("first_check", original, original, "no"),
        Case("page_first_check", original, original, page=True),
    )
    for case in served:  # made before serving: encoding a clip would hold the event loop
        case.body()
    runner = web.AppRunner(app(served, sent), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = crawl_config(video_prefix_bytes=PREFIX, max_download_bytes=MAX_BYTES)
    try:
        db_file = directory / "video.db"
        lines = ["url,reference,reported_at,noticed_at"]
        lines += [
            f"http://127.0.0.1:{port}/{'p' if c.page else 'v'}/{c.id},{c.id},{NOTICED},{NOTICED}"
            for c in served
        ]
        (directory / "reports.csv").write_text("\n".join(lines) + "\n")
        db = store.connect(db_file)
        assert import_reports(db, directory / "reports.csv", config).bad == 0
        ids = dict(db.execute("SELECT reference, id FROM reports").fetchall())
        for case in cases:  # the reported video's hashes, as an import of them stores them
            data = case.reported()
            for algorithm, value in (
                ("vpdq", _baseline(data)),
                ("sha256", hashlib.sha256(data).hexdigest()),
            ):
                db["report_hashes"].insert(
                    {
                        "report_id": ids[case.id],
                        "algorithm": algorithm,
                        "hash": value,
                        "origin": "imported",
                        "created_at": NOTICED,
                    }
                )
        db.conn.close()
        first = await _crawl(db_file, config, FIRST)
        second = await _crawl(db_file, config, SECOND)
        return first, second, sent
    finally:
        clock.fix(None)
        await runner.cleanup()


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    return asyncio.run(check_cases(tmp_path_factory.mktemp("video")))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_video_case(seen, case: Case) -> None:
    first, _, _ = seen
    outcome, reason, algorithm, distance, size = first[case.id]
    assert (outcome, reason) == (case.outcome, reason if reason in case.reasons else None), (
        case.id,
        first[case.id],
    )
    if case.algorithm is not None:
        assert algorithm == case.algorithm
    if algorithm == "vpdq":  # 100 - % of the fetched video's frames found in the reported one
        assert distance is not None and (distance <= 20) == (outcome == "online")
    if case.max_size is not None:
        assert size <= case.max_size < len(case.body())


def test_a_prefix_served_by_range_is_all_the_server_sends(seen) -> None:
    _, _, sent = seen
    assert sent["big_ranged"] == 2 * PREFIX < len(original())  # two crawls, a prefix each


def test_a_first_check_takes_its_baseline_from_a_prefix_and_the_next_check_matches(
    seen, tmp_path
) -> None:
    first, second, _ = seen
    assert first["first_check"][:2] == ("online", "first_check")
    assert first["first_check"][4] <= PREFIX + SLACK < len(original())
    assert second["first_check"][:3] == ("online", "hash_match", "vpdq")
    # a reported page's video, likewise (taken densely, from its prefix)
    assert first["page_first_check"][:2] == ("online", "first_check")
    assert second["page_first_check"][:3] == ("online", "hash_match", "vpdq")


def test_video_stats_count_the_bytes_read(seen) -> None:
    first, _, _ = seen
    stats = first["_stats"]
    assert stats["monitor/video/checks"] >= 9
    assert stats["monitor/video/ranged"] >= 3
    assert stats["monitor/video/cut"] >= 2
    assert stats["monitor/video/more"] >= 1  # the index-at-end clip was read again, larger
    assert stats["monitor/video/bytes"] < sum(len(c.body()) for c in CASES)


def test_a_video_read_again_is_not_decoded_again_and_its_bytes_are_not_kept() -> None:
    from spiders import hashing

    data = small()
    first = hashing._video(data, False, 1.0)
    assert first.ok and hashing._video(bytes(data), False, 1.0) is first  # remembered
    assert hashing._video(data, True, 1.0) is not first  # a prefix is another question
    kept = pickle.dumps(hashing._VIDEO_MEMO)
    assert data[1000:1032] not in kept  # only digests and frame hashes are remembered
