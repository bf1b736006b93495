"""Recheck crawl throughput on the simulated hoster world, beside plain Scrapy baselines.

N due URLs (60% images that are still online, the rest 404/410/451 and redirects to the front
page). Measured in the same run, each crawler in its own process against the same world:
  ours   full recheck: fetch + hash + classify + store (monitor.crawl.run_crawl)
  (a)    plain Scrapy spider, default settings, fetch-only, stores status codes
  (b)    tuned plain Scrapy fetch-only spider
Prints URLs/s of each (median of --repeat runs), the ratios, and ours' peak memory.
Goal (issue 5): ours >= 1.0x (a) and >= 0.6x (b).

    python bench/bench_crawl.py [--quick] [--n 20000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import clock  # noqa: E402
from monitor.sim.scenario import from_dict  # noqa: E402
from monitor.sim.world import World  # noqa: E402

BEHAVIOURS = {"404": 0.4, "410": 0.2, "451": 0.2, "redirect_front": 0.2}


def scenario(n: int):
    hosters = []
    for i in range(4):
        hosters.append({"name": f"Bench {i}", "asn": 64700 + i, "items": n // 4,
                        "galleries": 0, "formats": {"jpeg": 1.0},
                        "delay": {"dist": "fixed", "median_hours": 2, "never_share": 0.6},
                        "after": BEHAVIOURS})
    return from_dict({"name": "bench-crawl", "seed": 11, "start": "2026-03-01T00:00:00Z",
                      "report_window_days": 0, "notice_delay_hours": [0, 0],
                      "reappear_share": 0, "reupload_share": 0, "baseline_share": 1.0,
                      "hash_list_share": 0, "hosters": hosters})


OURS = """
import asyncio, json, resource, sys, time
sys.path.insert(0, {root!r})
from dataclasses import replace
from monitor import clock
from monitor.config import Config
from monitor.crawl import run_crawl
clock.fix({now!r})
base = Config()
cfg = replace(base, crawl=replace(base.crawl, allow_private_networks=True, autothrottle=False,
              concurrent_requests=64, per_hoster_concurrency=16, hash_workers=1))
t = time.perf_counter()
r = asyncio.run(run_crawl({db!r}, cfg, resolve_asn=False))
print(r.written, time.perf_counter() - t,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def fresh_db(directory: Path, reports_csv: Path) -> Path:
    from monitor import store
    from monitor.config import Config
    from monitor.import_reports import import_reports
    path = directory / f"ours-{time.monotonic_ns()}.db"
    import_reports(store.connect(path), reports_csv, Config())
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="2000 URLs")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    n = 2000 if args.quick else args.n
    from monitor.sim import truth
    world = World(scenario(n))
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    print(f"preparing a world of {n} items ...", flush=True)
    world.prerender()
    await world.start()
    when = world.scenario.start + timedelta(hours=3)
    world.set_now(when)
    files = truth.write(world, work / "world")
    urls = work / "urls.txt"
    urls.write_text("\n".join(world.url(i) for i in world.plan.reports()) + "\n")
    images = sum(1 for i in world.plan.reports() if i.removal_at is None)
    print(f"{n} URLs, {images} still-online images; timing ...", flush=True)

    async def child(cmd: list[str]) -> list[str]:
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode:
            raise SystemExit(f"{cmd[1:3]} failed: {err.decode()[-2000:]}")
        return out.decode().split()

    results: dict[str, list[float]] = {"ours": [], "plain": [], "tuned": []}
    memory = []
    for _ in range(args.repeat):
        for mode in ("plain", "tuned"):
            out = await child([sys.executable, str(ROOT / "bench" / "_fetch_only.py"), mode,
                               str(urls), str(work / f"{mode}-{time.monotonic_ns()}.db")])
            results[mode].append(int(out[0]) / float(out[1]))
        db = fresh_db(work, files["reports"])
        code = OURS.format(root=str(ROOT), now=clock.iso(when), db=str(db))
        out = await child([sys.executable, "-c", code])
        results["ours"].append(int(out[0]) / float(out[1]))
        memory.append(int(out[2]))
    await world.stop()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"ours (fetch+hash+classify+store): {med['ours']:8.1f} URLs/s  "
          f"peak RSS {max(memory)} MiB (crawl process)")
    print(f"(a) plain Scrapy, default:       {med['plain']:8.1f} URLs/s  "
          f"ratio ours/(a) = {med['ours'] / med['plain']:.2f}x (goal >= 1.0x)")
    print(f"(b) tuned Scrapy fetch-only:     {med['tuned']:8.1f} URLs/s  "
          f"ratio ours/(b) = {med['ours'] / med['tuned']:.2f}x (goal >= 0.6x)")
    print(f"world requests served: {world.requests}; bench self RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")


if __name__ == "__main__":
    asyncio.run(main())
