"""Benchmark: a watch scan (fetch, hash, match against a big hash list, record) vs. hashing the
same images alone.

A server process runs a simulated hoster with N albums of 10 images each (all online), serving
the world's pages and image bytes from memory through bench/static_site.py (a remote hoster
costs the crawl no CPU; aiohttp's web server here took 0.45 ms per request of the two shared
cores; `--aiohttp-hoster` serves through the simulated world itself instead). The
benchmark process stores a hash list of M random entries (PDQ, pHash, MD5) plus the PDQ of 1%
of the served images (so matching, attribution and the outbox are exercised), adds every album
as a watch source (depth 0) and runs `run_watch`. Its figure: images hashed per second over the
whole scan (the index build included). The baseline, in the same run: the same Hasher (same
number of worker processes) hashing a sample of the same images' bytes (2000 of them, 3 times
over) with the pool kept busy, just before and just after each scan: their mean is the round's
baseline (this machine's speed drifted by up to 35 % between 4-second windows).
Goal: scan >= 0.8x hash-only (matching and bookkeeping are not the bottleneck).

Where the scan's time goes is printed too (medians over rounds): the index build
(`monitor.reuploads.record.load_index`), the time inside `hashes.match.Matcher` per image, and the
benchmark process's CPU time per image (the crawl loop: Scrapy, spider, pipeline, matching;
hashing runs in the worker process), the simulated hoster's CPU time per image, and the bound
those CPU times put on the scan on this machine; on Linux also the hash worker's CPU per image
in the scan against hashing alone (crawl stat `monitor/hashing/cpu_ms`; in the scan it shares
the two cores and their caches) and all of the match process's CPU per image
(`monitor/reuploads/match_process_cpu_ms`). `--ceiling` adds a round with an empty list (no
index, nothing to match): what the crawl itself reaches here. Each round also says when the
scan hashed: how long before its first image and after its last, and its rate per tenth of the
images (a slow start shows there).

    python bench/bench_watch.py --quick          # 30 albums x 10 images, 20k-entry list, 3 rounds
    python bench/bench_watch.py                  # 5000 albums x 10 images, 1M-entry list, 1 round
    python bench/bench_watch.py --pages 500 --entries 1000000 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from monitor import store  # noqa: E402
from monitor.core import clock
from monitor.core.config import Config  # noqa: E402
from monitor.core.pipes import process_cpu  # noqa: E402
from monitor.sim.scenario import from_dict  # noqa: E402

HIT_SHARE = 0.01


@dataclass
class Timers:
    """Seconds spent in the index build and in the Matcher during a scan (wrapped in place,
    once; `reset` between rounds) when matching runs in the crawl loop (`--match-inline`); a
    match process reports its own (crawl stats). With `stub`, the index build yields an empty
    Matcher (the ceiling round matches in the crawl loop): the crawl without any hash list."""

    load: float = 0.0
    match: float = 0.0
    match_cpu: float = 0.0
    record: float = 0.0  # the outbox writes (monitor.reuploads.record.record)
    images: int = 0
    records: int = 0
    stub: bool = False
    hashed: list[float] = field(default_factory=list)  # when each image's hashes came back

    def reset(self, *, stub: bool = False) -> None:
        self.load = self.match = self.match_cpu = self.record = 0.0
        self.images = self.records = 0
        self.stub = stub
        self.hashed = []

    def install(self) -> None:
        from hashes.match import Matcher
        from monitor.reuploads.record import record as reuploads
        from spiders.hashing import Hasher

        compute = Hasher.compute

        load_index, many, record = reuploads.load_index, Matcher.candidates_many, reuploads.record

        def timed_load(*args, **kwargs):
            t = time.perf_counter()
            try:
                if self.stub:
                    return reuploads.ReuploadIndex(Matcher())
                return load_index(*args, **kwargs)
            finally:
                self.load += time.perf_counter() - t

        def timed_many(matcher, hs, **options):
            t, cpu = time.perf_counter(), time.thread_time()
            try:
                return many(matcher, hs, **options)
            finally:
                self.match += time.perf_counter() - t
                self.match_cpu += time.thread_time() - cpu
                self.images += len(hs)

        def timed_record(*args, **kwargs):
            t = time.perf_counter()
            try:
                return record(*args, **kwargs)
            finally:
                self.record += time.perf_counter() - t
                self.records += 1

        async def timed_compute(hasher, body):
            try:
                return await compute(hasher, body)
            finally:
                self.hashed.append(time.monotonic())

        reuploads.load_index, reuploads.record = timed_load, timed_record
        Hasher.compute = timed_compute
        Matcher.candidates_many = timed_many  # match/candidates/match_many all go through it


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far (Linux /proc; 0 elsewhere)."""
    return process_cpu(pid) or 0.0


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children (the scan's hash and match processes,
    waited for when the crawl closes them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _crawl_stats(db_file: Path) -> dict:
    """The monitor/* stats of the last watch crawl (monitor.runners.watch stores them)."""
    db = store.connect(db_file)
    try:
        row = db.execute(
            "SELECT stats FROM crawls WHERE kind = 'watch' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        db.conn.close()
    return json.loads(row[0]) if row and row[0] else {}


def _timeline(hashed: list[float], start: float, end: float) -> str:
    """When the scan hashed its images: seconds before the first and after the last, the rate
    between the 5th and the 95th percentile image (the steady state) and in each tenth."""
    n = len(hashed)
    if n < 20:
        return ""

    def rate(first: int, last: int) -> float:  # images first..last-1
        return (last - first) / max(hashed[last - 1] - hashed[first], 1e-9)

    tenths = " ".join(f"{rate(n * k // 10, n * (k + 1) // 10):.0f}" for k in range(10))
    return (
        f"; first image hashed {hashed[0] - start:.1f} s after the start, the last "
        f"{end - hashed[-1]:.1f} s before the end; steady state "
        f"{rate(n // 20, n * 19 // 20):.1f} images/s (per tenth of the images: {tenths})"
    )


def _cpu_note(cpu: tuple[float | None, float | None, float | None]) -> str:
    scan, alone, match = cpu
    note = (
        f"; hash worker CPU {scan:.2f} ms/image (alone {alone:.2f})"
        if scan is not None and alone is not None
        else ""
    )
    return note + (f", match process {match:.2f} ms/image" if match is not None else "")


def scenario(pages: int):
    return from_dict(
        {
            "name": "bench-watch",
            "seed": 5,
            "start": "2026-01-05T00:00:00Z",
            "days": 30,
            "report_window_days": 0,
            "reupload_share": 0.0,
            "baseline_share": 0.0,
            "hash_list_share": 0.0,
            "hosters": [
                {
                    "name": "Watch Bench",
                    "asn": 64650,
                    "items": pages * 10,
                    "galleries": pages,
                    "delay": {"dist": "fixed", "never_share": 1.0},
                }
            ],
        }
    )


def _server(conn, pages: int, static: bool) -> None:
    import aiohttp
    from static_site import serve

    from monitor.sim.images import CONTENT_TYPES
    from monitor.sim.world import World

    async def main() -> None:
        world = World(scenario(pages), ipv6=False)
        world.set_now(world.scenario.start + timedelta(days=1))
        world.prerender()
        await world.start()
        site, galleries = world.sites["Watch Bench"], world.gallery_urls("Watch Bench")
        server = None
        if static:  # the same pages and images, served from a dict (bench/static_site.py)
            routes = {
                path: (CONTENT_TYPES[item.fmt].encode(), world.body(item))
                for path, item in site.routes.items()
            }
            async with aiohttp.ClientSession() as session:
                for url in galleries:
                    async with session.get(url) as page:
                        routes[urlsplit(url).path] = (page.content_type.encode(), await page.read())
            await world.stop()
            server = await serve(site.hoster.ip, world.port, routes)
        conn.send((world.port, galleries, site.hoster.ip))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        if server is not None:
            server.close()
        else:
            await world.stop()

    asyncio.run(main())


def _bodies(pages: int, ids: list[int]) -> list[bytes]:
    from monitor.sim.world import World

    world = World(scenario(pages), ipv6=False)
    items = world.plan.items
    return [world.body(items[i]) for i in ids]


def _hash_list(db, entries: int, hits: list[str]) -> None:
    rng = np.random.default_rng(7)
    n_pdq, n_phash = entries * 2 // 5, entries * 2 // 5
    n_md5 = entries - n_pdq - n_phash
    with store.transaction(db):
        list_id = db.execute(
            "INSERT INTO hash_lists (name, source, allowlist, created_at) "
            "VALUES ('bench', 'random', 0, ?)",
            [clock.now_iso()],
        ).lastrowid
        for algorithm, count, words in (
            ("pdq", n_pdq, 4),
            ("phash", n_phash, 1),
            ("md5", n_md5, 2),
        ):
            raw = rng.integers(0, 2**63, size=(count, words), dtype=np.uint64, endpoint=True)
            data = raw.astype(">u8").tobytes().hex()
            width = words * 16
            db.conn.executemany(
                "INSERT OR IGNORE INTO known_hashes (list_id, algorithm, hash, label) "
                "VALUES (?, ?, ?, NULL)",
                ((list_id, algorithm, data[i * width : (i + 1) * width]) for i in range(count)),
            )
        db.conn.executemany(
            "INSERT OR IGNORE INTO known_hashes (list_id, algorithm, hash, label) "
            "VALUES (?, 'pdq', ?, 'hit')",
            ((list_id, h) for h in hits),
        )


async def _hash_only(
    bodies: list[bytes], workers: int, passes: int = 1
) -> tuple[float, float | None]:
    """(images/s, the hash workers' CPU ms per image) hashing `bodies` `passes` times."""
    from spiders.hashing import Hasher

    hasher = Hasher(workers)
    await hasher.start()
    limit = asyncio.Semaphore(max(4, 4 * workers))

    async def one(data: bytes) -> None:
        async with limit:
            await hasher.compute(data)

    cpu = hasher.cpu_seconds()
    started = time.perf_counter()
    for _ in range(passes):  # a window long enough to average out the machine's drift
        await asyncio.gather(*(one(b) for b in bodies))
    seconds = time.perf_counter() - started
    after = hasher.cpu_seconds()
    hasher.close()
    images = len(bodies) * passes
    per = (after - cpu) / images * 1e3 if cpu is not None and after is not None else None
    return images / seconds, per


async def run(args) -> None:
    from hashes.compute import compute
    from monitor.reuploads.watch_sources import add_source
    from monitor.runners.watch import run_watch

    parent, child = mp.get_context("spawn").Pipe()
    server = mp.get_context("spawn").Process(
        target=_server, args=(child, args.pages, not args.aiohttp_hoster), daemon=True
    )
    server.start()
    print(f"world: {args.pages} albums x 10 images, rendering ...", flush=True)
    port, galleries, ip = parent.recv()
    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    table = tmp / "routes.txt"
    table.write_text(f"{ip}/32 64650\n")
    base = Config()
    config = replace(
        base,
        crawl=replace(
            base.crawl,
            allow_networks=("127.0.0.0/8", "::1/128"),
            autothrottle=False,
            hash_workers=args.workers,
            concurrent_requests=64,
            per_hoster_concurrency=args.per_hoster,
            download_timeout=timedelta(seconds=30),
            match_process=not args.match_inline,
        ),
        asn=replace(base.asn, routing_table=str(table)),
    )
    total = args.pages * 10
    rnd = np.random.default_rng(3)
    hit_ids = sorted(rnd.choice(total, size=max(1, int(total * HIT_SHARE)), replace=False).tolist())
    sample_ids = sorted(rnd.choice(total, size=min(total, args.sample), replace=False).tolist())
    hit_hashes = [compute(b) for b in _bodies(args.pages, hit_ids)]
    hits = [h.pdq for h in hit_hashes]
    usable_hits = sum(1 for h in hit_hashes if h.ok and h.usable)  # the rest are never matched
    sample = _bodies(args.pages, sample_ids)
    db_file = tmp / "bench.db"
    db = store.connect(db_file)
    now = clock.parse("2026-01-06T00:00:00Z")
    clock.fix(now)
    t = time.perf_counter()
    _hash_list(db, args.entries, hits)
    print(
        f"hash list: {args.entries + len(hits):,} entries stored in "
        f"{time.perf_counter() - t:.1f} s",
        flush=True,
    )
    with store.transaction(db):
        for url in galleries:
            add_source(db, url, config, depth=0, max_pages=1)
    db.conn.close()

    scan_rates, hash_rates, parts = [], [], []
    hashing: list[tuple[float | None, float | None, float | None]] = []
    timers = Timers()
    timers.install()
    try:
        for n in range(args.rounds):
            clock.fix(now + timedelta(hours=25 * n))
            timers.reset()
            before, alone_before = await _hash_only(sample, args.workers, args.passes)
            cpu, server_cpu = _proc_cpu(os.getpid()), _proc_cpu(server.pid)
            children = _children_cpu()
            profiler = cProfile.Profile() if args.profile and n == 0 else None
            if profiler is not None:
                profiler.enable()
            timers.hashed = []
            t0 = time.monotonic()
            summary = await run_watch(db_file, config)
            timeline = _timeline(timers.hashed, t0, time.monotonic())
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
                print(f"profile of round 1 written to {args.profile}", flush=True)
            cpu, server_cpu = _proc_cpu(os.getpid()) - cpu, _proc_cpu(server.pid) - server_cpu
            children = _children_cpu() - children  # hash and match processes (reaped)
            stats = _crawl_stats(db_file)
            if not args.match_inline:  # the match process says where its time went
                timers.load = stats.get("monitor/reuploads/index_build_ms", 0) / 1e3
                timers.match = timers.match_cpu = (
                    stats.get("monitor/reuploads/match_cpu_ms", 0) / 1e3
                )
                timers.images = summary.images
            scan_rates.append(summary.images_per_second)
            after, alone_after = await _hash_only(sample, args.workers, args.passes)
            hash_rates.append((before + after) / 2)  # the machine's speed drifts
            per = max(1, summary.images)
            # hashing's CPU per image in the scan and alone, and all of the match process's
            scan_hash = stats.get("monitor/hashing/cpu_ms")
            match_all = stats.get("monitor/reuploads/match_process_cpu_ms")
            alone = (
                (alone_before + alone_after) / 2
                if alone_before is not None and alone_after is not None
                else None
            )
            hashing.append(
                (
                    scan_hash / per if scan_hash is not None else None,
                    alone,
                    match_all / per if match_all is not None else None,
                )
            )
            inline_load = timers.load if args.match_inline else 0.0
            parts.append(
                (
                    timers.load,
                    summary.seconds - inline_load,
                    timers.match / per * 1e3,
                    timers.match_cpu / per * 1e3,
                    cpu / per * 1e3,
                    (cpu - inline_load) / per * 1e3,
                    server_cpu / per * 1e3,
                    children / per * 1e3,
                )
            )
            print(
                f"round {n + 1}: scan {summary.images} images in {summary.seconds:.1f} s = "
                f"{scan_rates[-1]:.1f} images/s (found {summary.found} of the "
                f"{usable_hits} usable list hits, new "
                f"{summary.new_reuploads}, alerts {summary.alerts}, errors "
                f"{sum(summary.errors.values())}); hash-only {hash_rates[-1]:.1f} images/s "
                f"(before {before:.1f}, after {after:.1f}); "
                f"index build {timers.load:.1f} s, matching {parts[-1][2]:.3f} ms/image "
                f"({timers.images} images), recording {timers.record:.1f} s "
                f"({timers.records} outbox writes)" + _cpu_note(hashing[-1]) + timeline,
                flush=True,
            )
            if summary.images < total:
                print(f"warning: scanned {summary.images} of {total} images")
        if args.ceiling:
            clock.fix(now + timedelta(hours=25 * args.rounds))
            timers.reset(stub=True)  # in the crawl loop: a match process builds the list
            ceiling = await run_watch(
                db_file, replace(config, crawl=replace(config.crawl, match_process=False))
            )
            print(
                f"ceiling round (empty hash list, no index): {ceiling.images} images in "
                f"{ceiling.seconds:.1f} s = {ceiling.images_per_second:.1f} images/s",
                flush=True,
            )
    finally:
        clock.fix(None)
        parent.send("stop")
        server.join(10)
        shutil.rmtree(tmp, ignore_errors=True)
    scan, base_rate = statistics.median(scan_rates), statistics.median(hash_rates)
    load, rest, match_ms, match_cpu, cpu_ms, loop_ms, server_ms, child_ms = (
        statistics.median(p) for p in zip(*parts, strict=True)
    )
    print(
        f"\nwatch scan ({args.pages} pages x 10 images, {args.entries:,}-entry list, "
        f"{args.workers} hash worker(s)): {scan:.1f} images/s"
    )
    print(
        f"hash-only baseline (same Hasher, {len(sample)} of the images x {args.passes}, "
        f"before and after each scan): "
        f"{base_rate:.1f} images/s"
    )
    print(f"ratio scan / hash-only: {scan / base_rate:.2f}x (goal >= 0.8x)")
    where = "in the match process" if not args.match_inline else "in the crawl loop"
    print(
        f"where the scan's time went (medians): index build {load:.1f} s {where}, scan "
        f"{rest:.1f} s; benchmark-process CPU {cpu_ms:.2f} ms/image ({loop_ms:.2f} without "
        f"the index build); matching {where} {match_ms:.3f} ms/image (CPU {match_cpu:.3f}); "
        f"hash-only needs {1e3 / base_rate:.2f} ms/image"
    )
    children_note = "hashing and matching processes" if not args.match_inline else "hashing"
    need, cores = cpu_ms + child_ms + server_ms, os.cpu_count() or 1
    bound = min(cores * 1e3 / need, 1e3 / cpu_ms)  # the crawl process is one thread
    print(
        f"CPU per image: crawl process {cpu_ms:.2f} + child processes ({children_note}) "
        f"{child_ms:.2f} + simulated hoster {server_ms:.2f} = {need:.2f} ms on {cores} "
        f"cores: at most {bound:.0f} images/s = {bound / base_rate:.2f}x hash-only here"
    )
    scan_hash = [h for h, _, _ in hashing if h is not None]
    alone = [a for _, a, _ in hashing if a is not None]
    match_all = [m for _, _, m in hashing if m is not None]
    if scan_hash and alone:  # (Linux: read from /proc)
        h, a = statistics.median(scan_hash), statistics.median(alone)
        print(
            f"hash worker CPU per image: {h:.2f} ms in the scan, {a:.2f} ms hashing alone "
            f"({(h / a - 1) * 100:+.0f} %; in the scan it shares the cores and their caches "
            f"with the crawl and the match process)"
        )
    if match_all:
        print(
            f"match process CPU per image, all of it (index build, matching, pipes): "
            f"{statistics.median(match_all):.2f} ms"
        )
    if args.ceiling:
        print(
            f"ceiling without matching (same crawl, empty list): "
            f"{ceiling.images_per_second:.1f} images/s = "
            f"{ceiling.images_per_second / base_rate:.2f}x hash-only"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    parser.add_argument("--pages", type=int)
    parser.add_argument("--entries", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--workers", type=int, default=1, help="hash worker processes")
    parser.add_argument(
        "--sample", type=int, default=2000, help="images hashed alone for the baseline"
    )
    parser.add_argument(
        "--passes",
        type=int,
        help="times the sample is hashed for each baseline measurement (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="one more round with an empty hash list: the crawl's ceiling",
    )
    parser.add_argument(
        "--aiohttp-hoster",
        action="store_true",
        help="serve with the simulated world's aiohttp server (default: the "
        "same pages and images from bench/static_site.py, which costs "
        "the shared cores less)",
    )
    parser.add_argument(
        "--match-inline",
        action="store_true",
        help="match in the crawl loop ([crawl] match_process = false) instead "
        "of in a match process",
    )
    parser.add_argument(
        "--per-hoster",
        type=int,
        default=16,
        help="per-hoster concurrency (the one simulated hoster's slot)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile the first round's scan (the crawl process) into FILE",
    )
    args = parser.parse_args()
    args.pages = args.pages or (30 if args.quick else 5000)
    args.entries = (
        args.entries if args.entries is not None else (20_000 if args.quick else 1_000_000)
    )
    args.rounds = args.rounds or (3 if args.quick else 1)
    args.passes = args.passes or (1 if args.quick else 3)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
