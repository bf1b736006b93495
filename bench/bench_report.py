"""Benchmark: the JSON report over N notices with 10 checks each, against a naive Python loop.

Our figure: `build_report` + `render(..., "json")` (Kaplan-Meier per hoster, censoring-aware),
wall time and peak memory (RSS high-water mark of this process during the step). Baseline,
measured in the same run: a plain Python loop over every notice row computing per-hoster median
times to takedown without censoring (items not taken down are dropped). Ratio = baseline / ours.

    python bench/bench_report.py            # 1M notices, 10M checks (the issue's figure)
    python bench/bench_report.py --quick    # 20k notices
    python bench/bench_report.py --n 10000000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor import store  # noqa: E402
from monitor.core import clock
from monitor.core.config import Config  # noqa: E402
from reports import sample  # noqa: E402
from reports.build import build_report
from reports.render import render

NOW = "2026-03-01T00:00:00Z"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(db) -> tuple[float, str]:
    start = time.perf_counter()
    text = render(build_report(db, Config(), now=NOW), "json")
    return time.perf_counter() - start, text


def naive(db) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    names = dict(db.execute("SELECT id, name FROM hosters"))
    durations: dict[str, list[float]] = defaultdict(list)
    for hid, noticed, takedown in db.execute(
        "SELECT COALESCE(notified_hoster_id, hoster_id), noticed_at, takedown_at FROM reports"
    ):
        if takedown is None:
            continue  # the naive way: drop what is not taken down
        hours = (clock.parse(takedown) - clock.parse(noticed)).total_seconds() / 3600
        durations[names.get(hid, "?")].append(hours)
    medians = {name: statistics.median(v) for name, v in durations.items()}
    return time.perf_counter() - start, medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k notices")
    parser.add_argument("--n", type=int, default=None, help="number of notices (default 1M)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", help="reuse/keep the generated database at this path")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.n or (20_000 if args.quick else 1_000_000)
    if args.generate_only:  # runs in a child, so generation does not count in our peak memory
        sample.fill(store.connect(args.db), n, now=NOW, checks=10)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "bench.db"
        db = store.connect(path)
        have = db["reports"].count
        if have != n:
            if have:
                raise SystemExit(f"{path} holds {have} notices, not {n}")
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, __file__, "--generate-only", "--n", str(n), "--db", str(path)],
                check=True,
            )
            print(
                f"generated {n} notices, {db['checks'].count} checks "
                f"in {time.perf_counter() - t:.1f} s"
            )
        before = peak_rss_mb()
        ours_times = [ours(db)[0] for _ in range(args.repeat)]
        ours_peak = peak_rss_mb()
        naive_times = [naive(db)[0] for _ in range(args.repeat)]
        ours_t, naive_t = statistics.median(ours_times), statistics.median(naive_times)
        print(f"notices: {n}")
        print(
            f"ours  (KM report, JSON): median {ours_t:.2f} s over {args.repeat} runs; "
            f"peak RSS {ours_peak:.0f} MB (before: {before:.0f} MB)"
        )
        print(f"naive (Python loop, medians without censoring): median {naive_t:.2f} s")
        print(f"ratio naive/ours: {naive_t / ours_t:.2f}x")
        db.conn.close()


if __name__ == "__main__":
    main()
