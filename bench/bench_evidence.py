"""Cost of the evidence chain: the single writer with and without it, as a share of the crawl.

Measured in the same run:
  writer  CheckWriter storing N checks in the crawl's batches (500), a fresh copy of the same
          database and the same rows each round; rounds alternate baseline (chain off:
          evidence_store.append replaced by a no-op) and ours (chain on); medians of checks/s.
  crawl   the recheck crawl of bench/bench_crawl.py (its world, 2000 URLs by default) with the
          chain on, in its own process: URLs/s.
The chain's cost per check is 1/ours - 1/baseline (seconds); its share of crawl throughput is
that cost x the crawl's URLs/s (the fraction of a crawl's wall time spent chaining: the writer
runs in the crawl's process). Also `evidence verify` (and the back-fill) in checks/s, on the
writer's table or on --verify-rows synthetic checks.
Goal (issue 22): chain cost <= 5% of crawl throughput.

    python bench/bench_evidence.py [--quick] [--n 20000] [--rounds 5] [--crawl-n 2000]
                                   [--verify-rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from monitor import store  # noqa: E402
from monitor.core import clock  # noqa: E402
from monitor.core.config import Config  # noqa: E402
from monitor.runners.writer import CheckWriter  # noqa: E402
from monitor.store import evidence as evidence_store  # noqa: E402
from spiders.items import CheckItem  # noqa: E402

T0 = clock.parse("2026-03-01T00:00:00Z")
SLOTS = 10
OUTCOMES = (
    ("online", "hash_match", 200),
    ("removed", "http_404", 404),
    ("removed", "redirect_away", 302),
    ("unreachable", "timeout", None),
)


def template(work: Path, reports: int) -> Path:
    path = work / "template.db"
    db = store.connect(path)
    stamp = clock.iso(T0)
    with store.transaction(db):
        db.conn.executemany(
            "INSERT INTO reports (id, url, url_key, reported_at, noticed_at, imported_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    i,
                    f"https://host{i % 97}.example/gallery/{i // 97}/image-{i}.jpg",
                    f"k{i}",
                    stamp,
                    stamp,
                    stamp,
                )
                for i in range(1, reports + 1)
            ],
        )
    db.conn.close()
    return path


def items(n: int) -> list[CheckItem]:
    reports = n // SLOTS
    out = []
    for slot in range(SLOTS):
        due = T0 + timedelta(hours=slot + 1)
        for rid in range(1, reports + 1):
            outcome, reason, status = OUTCOMES[(rid + slot) % len(OUTCOMES)]
            out.append(
                CheckItem(
                    report_id=rid,
                    url="",
                    due_at=clock.iso(due),
                    checked_at=clock.iso(due + timedelta(seconds=rid % 600)),
                    outcome=outcome,
                    reason=reason,
                    http_status=status,
                    ip=f"127.0.{rid % 250}.{slot + 1}",
                    final_url=f"https://host{rid % 97}.example/" if status == 302 else None,
                    redirects=(("https://x.example/a", 302),) if status == 302 else (),
                    content_type="image/jpeg" if status == 200 else "text/html",
                    size=48213 if status == 200 else 512,
                    elapsed_ms=40 + rid % 60,
                    algorithm="sha256" if status == 200 else None,
                    distance=0 if status == 200 else None,
                )
            )
    return out


def write_round(
    work: Path, base: Path, rows: list[CheckItem], chain: bool, tag: int
) -> tuple[float, Path]:
    path = work / f"round-{tag}-{'chain' if chain else 'base'}.db"
    shutil.copy(base, path)
    db = store.connect(path)
    original = evidence_store.append
    if not chain:
        evidence_store.append = lambda conn, **kw: 0  # type: ignore[assignment]
    try:
        writer = CheckWriter(db, Config())
        started = time.perf_counter()
        for item in rows:
            writer.add_check(item)
        writer.flush()
        seconds = time.perf_counter() - started
    finally:
        evidence_store.append = original  # type: ignore[assignment]
    assert writer.written == len(rows)
    db.conn.close()
    return len(rows) / seconds, path


def verify_rate(path: Path) -> tuple[int, float]:
    db = store.connect(path, readonly=True)
    started = time.perf_counter()
    result = evidence_store.verify_db(db.conn)
    seconds = time.perf_counter() - started
    db.conn.close()
    assert result.intact, result.breaks
    return result.count, result.count / seconds


def synthetic(work: Path, rows: int) -> tuple[Path, float]:
    """A table of `rows` checks inserted directly, then chained (the m007 back-fill path)."""
    path = work / "verify.db"
    db = store.connect(path)
    reports = max(1, rows // SLOTS)
    stamp = clock.iso(T0)
    with store.transaction(db):
        db.conn.executemany(
            "INSERT INTO reports (id, url, url_key, reported_at, noticed_at, imported_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (i, f"https://host{i % 97}.example/g/{i}.jpg", f"k{i}", stamp, stamp, stamp)
                for i in range(1, reports + 1)
            ],
        )
        db.conn.executemany(
            "INSERT INTO checks (report_id, due_at, checked_at, outcome, reason, http_status, "
            "ip, content_type, size, elapsed_ms) VALUES (?, ?, ?, 'removed', 'http_404', 404, "
            "'127.0.0.9', 'text/html', 512, 41)",
            ((i % reports + 1, f"s{i // reports}", stamp) for i in range(rows)),
        )
    started = time.perf_counter()
    with store.transaction(db):
        evidence_store.append(db.conn)
    rate = rows / (time.perf_counter() - started)
    db.conn.close()
    return path, rate


async def crawl_rate(work: Path, n: int) -> float:
    import bench_crawl

    from monitor.sim import truth
    from monitor.sim.world import World

    world = World(bench_crawl.scenario(n))
    world.prerender()
    await world.start()
    try:
        when = world.scenario.start + timedelta(hours=3)
        world.set_now(when)
        files = truth.write(world, work / "world")
        db = bench_crawl.fresh_db(work, files["reports"])
        out = await bench_crawl.run_child(
            [sys.executable, bench_crawl.__file__, "--_child", str(db), clock.iso(when), "1"]
        )
    finally:
        await world.stop()
    got = json.loads(out.strip().splitlines()[-1])
    return got["written"] / got["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="checks per writer round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each (alternating)")
    parser.add_argument("--crawl-n", type=int, default=2000, help="URLs of the crawl run")
    parser.add_argument(
        "--verify-rows",
        type=int,
        default=0,
        help="also chain and verify this many synthetic checks (e.g. 1000000)",
    )
    parser.add_argument("--quick", action="store_true", help="n=5000, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds = 5000, 3
    work = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    try:
        base = template(work, args.n // SLOTS)
        rows = items(args.n)
        runs: dict[str, list[float]] = {"base": [], "chain": []}
        last = base
        for r in range(args.rounds):
            for chain in (False, True) if r % 2 == 0 else (True, False):
                rate, path = write_round(work, base, rows, chain, r)
                runs["chain" if chain else "base"].append(rate)
                if chain:
                    last = path
                else:
                    path.unlink()
        count, verify = verify_rate(last)
        print(f"writer, {args.n} checks per round, batches of 500, {args.rounds} rounds each:")
        b, o = statistics.median(runs["base"]), statistics.median(runs["chain"])
        each = {k: " ".join(f"{x:.0f}" for x in v) for k, v in runs.items()}
        print(f"  baseline (no chain): {b:9.0f} checks/s  [{each['base']}]")
        print(f"  ours (chained):      {o:9.0f} checks/s  [{each['chain']}]")
        print(f"  ratio ours/baseline: {o / b:.3f}x")
        cost = max(0.0, 1 / o - 1 / b)
        print(f"  chain cost per check: {cost * 1e6:.1f} us")
        crawl = asyncio.run(crawl_rate(work, args.crawl_n))
        share = cost * crawl
        print(f"crawl (bench_crawl world, {args.crawl_n} URLs, chain on): {crawl:.1f} URLs/s")
        print(f"chain append cost = {share * 100:.2f}% of crawl throughput (goal <= 5%)")
        print(
            f"evidence verify: {verify:.0f} checks/s on {count} checks "
            f"(1M checks: ~{1e6 / verify:.0f} s)"
        )
        if args.verify_rows:
            path, backfill = synthetic(work, args.verify_rows)
            count, verify = verify_rate(path)
            print(
                f"{count} synthetic checks: back-fill {backfill:.0f} checks/s "
                f"({count / backfill:.1f} s), verify {verify:.0f} checks/s "
                f"({count / verify:.1f} s)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
