"""Benchmark: a watch scan (fetch, hash, match against a big hash list, record) vs. hashing the
same images alone.

A server process runs a simulated hoster with N albums of 10 images each (all online). The
benchmark process stores a hash list of M random entries (PDQ, pHash, MD5) plus the PDQ of 1%
of the served images (so matching, attribution and the outbox are exercised), adds every album
as a watch source (depth 0) and runs `run_watch`. Its figure: images hashed per second over the
whole scan (the index build included). The baseline, in the same run: the same Hasher (same
number of worker processes) hashing a sample of the same images' bytes with the pool kept busy.
Goal: scan >= 0.8x hash-only (matching and bookkeeping are not the bottleneck).

    python bench/bench_watch.py --quick          # 30 albums x 10 images, 20k-entry list, 3 rounds
    python bench/bench_watch.py                  # 5000 albums x 10 images, 1M-entry list, 1 round
    python bench/bench_watch.py --pages 500 --entries 1000000 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor import clock, store  # noqa: E402
from monitor.config import Config  # noqa: E402
from monitor.sim.scenario import from_dict  # noqa: E402

HIT_SHARE = 0.01


def scenario(pages: int):
    return from_dict({
        "name": "bench-watch", "seed": 5, "start": "2026-01-05T00:00:00Z", "days": 30,
        "report_window_days": 0, "reupload_share": 0.0, "baseline_share": 0.0,
        "hash_list_share": 0.0,
        "hosters": [{"name": "Watch Bench", "asn": 64650, "items": pages * 10,
                     "galleries": pages, "delay": {"dist": "fixed", "never_share": 1.0}}]})


def _server(conn, pages: int) -> None:
    from monitor.sim.world import World

    async def main() -> None:
        world = World(scenario(pages), ipv6=False)
        world.set_now(world.scenario.start + timedelta(days=1))
        world.prerender()
        await world.start()
        conn.send((world.port, world.gallery_urls("Watch Bench"),
                   world.sites["Watch Bench"].hoster.ip))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
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
        list_id = db.execute("INSERT INTO hash_lists (name, source, allowlist, created_at) "
                             "VALUES ('bench', 'random', 0, ?)", [clock.now_iso()]).lastrowid
        for algorithm, count, words in (("pdq", n_pdq, 4), ("phash", n_phash, 1),
                                        ("md5", n_md5, 2)):
            raw = rng.integers(0, 2**63, size=(count, words), dtype=np.uint64, endpoint=True)
            data = raw.astype(">u8").tobytes().hex()
            width = words * 16
            db.conn.executemany(
                "INSERT OR IGNORE INTO known_hashes (list_id, algorithm, hash, label) "
                "VALUES (?, ?, ?, NULL)",
                ((list_id, algorithm, data[i * width:(i + 1) * width]) for i in range(count)))
        db.conn.executemany("INSERT OR IGNORE INTO known_hashes (list_id, algorithm, hash, label) "
                            "VALUES (?, 'pdq', ?, 'hit')", ((list_id, h) for h in hits))


async def _hash_only(bodies: list[bytes], workers: int) -> float:
    from spiders.hashing import Hasher
    hasher = Hasher(workers)
    await hasher.start()
    limit = asyncio.Semaphore(max(4, 4 * workers))

    async def one(data: bytes) -> None:
        async with limit:
            await hasher.compute(data)

    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    seconds = time.perf_counter() - started
    hasher.close()
    return len(bodies) / seconds


async def run(args) -> None:
    from hashes.compute import compute
    from monitor.watch_crawl import run_watch
    from monitor.watch_sources import add_source

    parent, child = mp.get_context("spawn").Pipe()
    server = mp.get_context("spawn").Process(target=_server, args=(child, args.pages),
                                             daemon=True)
    server.start()
    print(f"world: {args.pages} albums x 10 images, rendering ...", flush=True)
    port, galleries, ip = parent.recv()
    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    table = tmp / "routes.txt"
    table.write_text(f"{ip}/32 64650\n")
    base = Config()
    config = replace(base, crawl=replace(
        base.crawl, allow_private_networks=True, autothrottle=False,
        hash_workers=args.workers, concurrent_requests=64, per_hoster_concurrency=16,
        download_timeout=timedelta(seconds=30)),
        asn=replace(base.asn, routing_table=str(table)))
    total = args.pages * 10
    rnd = np.random.default_rng(3)
    hit_ids = sorted(rnd.choice(total, size=max(1, int(total * HIT_SHARE)), replace=False)
                     .tolist())
    sample_ids = sorted(rnd.choice(total, size=min(total, args.sample), replace=False).tolist())
    hits = [compute(b).pdq for b in _bodies(args.pages, hit_ids)]
    sample = _bodies(args.pages, sample_ids)
    db_file = tmp / "bench.db"
    db = store.connect(db_file)
    now = clock.parse("2026-01-06T00:00:00Z")
    clock.fix(now)
    t = time.perf_counter()
    _hash_list(db, args.entries, hits)
    print(f"hash list: {args.entries + len(hits):,} entries stored in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    with store.transaction(db):
        for url in galleries:
            add_source(db, url, config, depth=0, max_pages=1)
    db.conn.close()

    scan_rates, hash_rates = [], []
    try:
        for n in range(args.rounds):
            clock.fix(now + timedelta(hours=25 * n))
            summary = await run_watch(db_file, config)
            scan_rates.append(summary.images_per_second)
            hash_rates.append(await _hash_only(sample, args.workers))
            print(f"round {n + 1}: scan {summary.images} images in {summary.seconds:.1f} s = "
                  f"{scan_rates[-1]:.1f} images/s (found {summary.found}, new "
                  f"{summary.new_reuploads}, alerts {summary.alerts}, errors "
                  f"{sum(summary.errors.values())}); hash-only {hash_rates[-1]:.1f} images/s",
                  flush=True)
            if summary.images < total:
                print(f"warning: scanned {summary.images} of {total} images")
    finally:
        clock.fix(None)
        parent.send("stop")
        server.join(10)
    scan, base_rate = statistics.median(scan_rates), statistics.median(hash_rates)
    print(f"\nwatch scan ({args.pages} pages x 10 images, {args.entries:,}-entry list, "
          f"{args.workers} hash worker(s)): {scan:.1f} images/s")
    print(f"hash-only baseline (same Hasher, {len(sample)} of the images): "
          f"{base_rate:.1f} images/s")
    print(f"ratio scan / hash-only: {scan / base_rate:.2f}x (goal >= 0.8x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=bool(os.environ.get("BENCH_QUICK")))
    parser.add_argument("--pages", type=int)
    parser.add_argument("--entries", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--workers", type=int, default=1, help="hash worker processes")
    parser.add_argument("--sample", type=int, default=2000,
                        help="images hashed alone for the baseline")
    args = parser.parse_args()
    args.pages = args.pages or (30 if args.quick else 5000)
    args.entries = args.entries if args.entries is not None else (
        20_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or (3 if args.quick else 1)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
