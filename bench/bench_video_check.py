"""What one recheck of a large reported video costs: read as a prefix vs read whole (issue 23).

A loopback aiohttp server serves a generated benign clip (hashes.synthetic_video: 60 s,
640x360, 30 fps, H.264 at 2 Mbit/s, MP4 with its index first) padded to --size-mb with an
MP4 `free` box streamed as zeros (a valid file of that size whose media is the clip: players
and decoders skip the padding). The report's baseline is the clip's dense vPDQ signature.
Each setup runs in a fresh process: import, then --checks real recheck crawls
(monitor.runners.crawl.run_crawl) at successive schedule slots; per check the bytes the
crawler read (checks.size), the bytes the server sent, the wall seconds of the crawl and the
outcome; the process's peak RSS at the end. Each check decodes what it read (the hash
worker's memo of signatures by digest is cleared before each: it would hide the cost).

Setups, measured in the same run:
  baseline  the check reads the whole file (video_prefix_bytes and max_download_bytes above
            its size): what judging a video from its bytes costs without prefixes
  ranged    ours, default video_prefix_bytes (4 MiB), the server honours Range (206)
  cut       ours, the server ignores Range (200 with the whole file): the body is cut at the
            prefix (StopDownload)

    python bench/bench_video_check.py [--size-mb 500] [--checks 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOTICED = "2026-03-01T00:00:00Z"
SLOTS = ("2026-03-01T01:01:00Z", "2026-03-01T02:01:00Z", "2026-03-01T04:01:00Z")
PIECE = 1 << 20


def clip() -> bytes:
    from hashes import synthetic_video

    return synthetic_video.clip(
        77, size=(640, 360), seconds=60, fps=30, cut_every=6.0, crf=None, bitrate=2_000_000
    )


def padded_size(data: bytes, size: int) -> int:
    return max(len(data) + 8, size)


def _span(data: bytes, total: int, first: int, last: int):
    """The bytes first..last (inclusive) of the clip padded with a `free` box to `total`."""
    head = data + (total - len(data)).to_bytes(4, "big") + b"free"
    at = first
    while at <= last:
        if at < len(head):
            piece = head[at : min(len(head), last + 1, at + PIECE)]
        else:
            piece = bytes(min(PIECE, last + 1 - at))
        yield piece
        at += len(piece)


async def serve(data: bytes, total: int, ranges: bool, sent: list[int]):
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        asked = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range", ""))
        first, last, status = 0, total - 1, 200
        headers = {"Content-Type": "video/mp4", "Accept-Ranges": "bytes" if ranges else "none"}
        if asked and ranges:
            first = int(asked.group(1))
            last = min(total - 1, int(asked.group(2) or total - 1))
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{total}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = last - first + 1
        await response.prepare(request)
        try:
            for piece in _span(data, total, first, last):
                await response.write(piece)
                sent[0] += len(piece)
        except (ConnectionError, RuntimeError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/v/big.mp4", handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def one_setup(setup: str, size: int, checks: int) -> dict:
    from hashes.video import video_signature
    from hashes.video_compare import BASELINE_SECONDS_PER_HASH
    from hashes.video_text import to_text
    from monitor import store
    from monitor.core import clock
    from monitor.intake.reports import import_reports
    from monitor.runners.crawl import run_crawl
    from spiders import hashing
    from tests.crawl_helpers import crawl_config

    data = clip()
    total = padded_size(data, size)
    sent = [0]
    runner, port = await serve(data, total, setup != "cut", sent)
    crawl = {"download_timeout": replace(crawl_config().crawl).download_timeout * 4}
    if setup == "baseline":
        crawl.update(video_prefix_bytes=total + 1, max_download_bytes=total + 1)
    config = crawl_config(**crawl)
    out: dict = {"setup": setup, "file_bytes": total, "clip_bytes": len(data), "checks": []}
    with tempfile.TemporaryDirectory() as tmp:
        db_file = Path(tmp) / "b.db"
        csv = Path(tmp) / "r.csv"
        csv.write_text(
            f"url,reference,reported_at,noticed_at\n"
            f"http://127.0.0.1:{port}/v/big.mp4,BIG,{NOTICED},{NOTICED}\n"
        )
        db = store.connect(db_file)
        assert import_reports(db, csv, config).bad == 0
        db["report_hashes"].insert(
            {
                "report_id": 1,
                "algorithm": "vpdq",
                "hash": to_text(video_signature(data, seconds_per_hash=BASELINE_SECONDS_PER_HASH)),
                "origin": "imported",
                "created_at": NOTICED,
            }
        )
        db.conn.close()
        try:
            for when in SLOTS[:checks]:
                hashing._VIDEO_MEMO.clear()  # each check decodes: the memo would hide its cost
                clock.fix(clock.parse(when))
                before, started = sent[0], time.perf_counter()
                await run_crawl(db_file, config, resolve_asn=False, NTD_CHECK_DEADLINE=600)
                seconds = time.perf_counter() - started
                db = store.connect(db_file)
                outcome, reason, algorithm, read = db.execute(
                    "SELECT outcome, reason, algorithm, size FROM checks ORDER BY id DESC"
                ).fetchone()
                db.conn.close()
                out["checks"].append(
                    {
                        "outcome": f"{outcome}/{reason}/{algorithm}",
                        "read": read,
                        "sent": sent[0] - before,
                        "seconds": round(seconds, 2),
                    }
                )
        finally:
            clock.fix(None)
            await runner.cleanup()
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--checks", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    if args.one:
        print(json.dumps(asyncio.run(one_setup(args.one, size, args.checks))))
        return
    results = {}
    for setup in ("baseline", "ranged", "cut"):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                setup,
                "--size-mb",
                str(args.size_mb),
                "--checks",
                str(args.checks),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[setup] = json.loads(done.stdout.strip().splitlines()[-1])
    base = results["baseline"]
    print(
        f"Recheck of a reported video: {base['file_bytes'] / 2**20:.0f} MB file "
        f"(a {base['clip_bytes'] / 2**20:.1f} MB 60 s 640x360 2 Mbit/s clip, padded), "
        f"{args.checks} checks per setup, medians"
    )
    print(f"{'setup':<9} {'read MB':>9} {'sent MB':>9} {'seconds':>8} {'peak MB':>8}  outcome")
    med = {}
    for setup, r in results.items():
        m = {k: statistics.median(c[k] for c in r["checks"]) for k in ("read", "sent", "seconds")}
        med[setup] = m
        outcomes = sorted({c["outcome"] for c in r["checks"]})
        print(
            f"{setup:<9} {m['read'] / 2**20:>9.2f} {m['sent'] / 2**20:>9.2f} "
            f"{m['seconds']:>8.2f} {r['peak_rss_mb']:>8.0f}  {', '.join(outcomes)}"
        )
    for setup in ("ranged", "cut"):
        print(
            f"{setup}: reads {med[setup]['read'] / med['baseline']['read']:.4f}x the baseline's "
            f"bytes, {med[setup]['seconds'] / med['baseline']['seconds']:.2f}x its seconds"
        )


if __name__ == "__main__":
    main()
