"""Recheck crawl throughput and memory on the simulated hoster world, beside plain Scrapy.

N due URLs (60% images that are still online, the rest 404/410/451 and redirects to the front
page). Measured in the same run, each crawler in its own process against the same world:
  ours   full recheck: fetch + hash + classify + store (monitor.runners.crawl.run_crawl)
  (a)    plain Scrapy spider, default settings, fetch-only, stores status codes
  (b)    tuned plain Scrapy fetch-only spider (bench/_fetch_only.py)
Prints URLs/s of each (median of --repeat runs, interleaved), the ratios, and ours' peak memory.
Goal (issue 5): ours >= 1.0x (a) and >= 0.6x (b); peak memory <= 300 MB for 100k due checks.

The world serves online images byte for byte as reported, so ours confirms them by the
baseline's SHA-256 without decoding (spiders.hashing.exact_match). `--perceptual` imports the
baselines without digests: every online image is then decoded and hashed (pHash/dHash/PDQ) and
matched perceptually, the cost of a recheck whose material was re-encoded.

Memory (`--memory`: 100k due reports, ours only): Linux carries ru_maxrss across fork+exec (a
child reports its parent's peak), so the crawl process reads its own VmHWM (the kernel's peak
resident set of this process image) at the end, and a thread reads each hash worker's VmHWM
every 0.25 s. Printed: crawl process peak + worker peaks (a sum that bounds the whole crawl's
peak from above) and the largest sampled simultaneous total. The --memory world serves 512
distinct images in rotation (the crawler keeps nothing per image; rendering 60k takes minutes).

    python bench/bench_crawl.py [--quick | --memory] [--n N] [--repeat 3] [--perceptual]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.core import clock  # noqa: E402
from monitor.core.pipes import process_cpu  # noqa: E402
from monitor.sim.scenario import from_dict  # noqa: E402
from monitor.sim.world import World  # noqa: E402

BEHAVIOURS = {"404": 0.4, "410": 0.2, "451": 0.2, "redirect_front": 0.2}
POOL = 512  # distinct images in --memory mode


def scenario(n: int):
    hosters = []
    for i in range(4):
        hosters.append(
            {
                "name": f"Bench {i}",
                "asn": 64700 + i,
                "items": n // 4,
                "galleries": 0,
                "formats": {"jpeg": 1.0},
                "delay": {"dist": "fixed", "median_hours": 2, "never_share": 0.6},
                "after": BEHAVIOURS,
            }
        )
    return from_dict(
        {
            "name": "bench-crawl",
            "seed": 11,
            "start": "2026-03-01T00:00:00Z",
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "reappear_share": 0,
            "reupload_share": 0,
            "baseline_share": 1.0,
            "hash_list_share": 0,
            "hosters": hosters,
        }
    )


# -- memory of a process tree (Linux /proc) ----------------------------------------------------


def _status_kb(pid: int | str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    return process_cpu(pid) or 0.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


class TreeMemory:
    """Peak resident memory of this process and its children, sampled by a thread."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.workers: dict[int, int] = {}  # pid -> peak KiB (VmHWM)
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds, last seen
        self.total_kb = 0  # largest sampled simultaneous VmRSS sum
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me, tick, pids = os.getpid(), 0, []
        while not self._stop.wait(self.interval):
            if tick % 4 == 0:  # a /proc scan costs a few ms: look for new workers each second
                pids = _children(me)
            tick += 1
            total = _status_kb("self", "VmRSS")
            for pid in pids:
                self.workers[pid] = max(self.workers.get(pid, 0), _status_kb(pid, "VmHWM"))
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_seconds(pid))
                total += _status_kb(pid, "VmRSS")
            self.total_kb = max(self.total_kb, total)

    def report(self) -> dict[str, int]:
        main = _status_kb("self", "VmHWM")
        return {
            "main_mb": main // 1024,
            "workers_mb": sum(self.workers.values()) // 1024,
            "workers": len(self.workers),
            "sampled_total_mb": self.total_kb // 1024,
            "main_cpu": _cpu_seconds(os.getpid()),
            "workers_cpu": sum(self.cpu.values()),
        }


# -- ours, in a child process --------------------------------------------------------------------


def child(db: str, now: str, hash_workers: int) -> None:
    from dataclasses import replace

    from monitor.core.config import Config
    from monitor.runners.crawl import run_crawl

    clock.fix(now)
    base = Config()
    cfg = replace(
        base,
        crawl=replace(
            base.crawl,
            allow_networks=("127.0.0.0/8", "::1/128"),
            autothrottle=False,
            concurrent_requests=64,
            per_hoster_concurrency=16,
            hash_workers=hash_workers,
        ),
    )
    with TreeMemory() as memory:
        started = time.perf_counter()
        cpu = _cpu_seconds(os.getpid())
        result = asyncio.run(run_crawl(db, cfg, resolve_asn=False))
        seconds = time.perf_counter() - started
    report = memory.report()
    report["main_cpu"] -= cpu
    print(json.dumps({"written": result.written, "seconds": seconds, **report}))


# -- the world and the runs ----------------------------------------------------------------------


def pooled(world: World, size: int = POOL) -> None:
    """Serve `size` distinct bodies in rotation (and hash each once for the import file)."""
    from monitor.sim import truth

    original = world.body
    cache: dict[tuple, bytes] = {}

    def body(item, variant: str = "image") -> bytes:
        key = (item.seed % size, item.fmt, variant, item.transform)
        if key not in cache:
            cache[key] = original(item, variant)
        return cache[key]

    world.body = body  # type: ignore[method-assign]
    truth.image_hashes = functools.lru_cache(maxsize=None)(truth.image_hashes)


def fresh_db(directory: Path, reports_csv: Path, *, digests: bool = True) -> Path:
    from monitor import store
    from monitor.core.config import Config
    from monitor.intake.reports import import_reports

    source = reports_csv
    if not digests:  # baselines of perceptual hashes only
        source = directory / "reports-perceptual.csv"
        if not source.exists():
            with open(reports_csv, newline="") as fh:
                rows = list(csv.DictReader(fh))
            with open(source, "w", newline="") as fh:
                out = csv.DictWriter(fh, fieldnames=list(rows[0]))
                out.writeheader()
                out.writerows({**r, "sha256": ""} for r in rows)
    path = directory / f"ours-{time.monotonic_ns()}.db"
    import_reports(store.connect(path), source, Config())
    return path


async def run_child(cmd: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{cmd[1:3]} failed: {err.decode()[-2000:]}")
    return out.decode()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=None, help="due URLs (20000; --memory 100000)")
    parser.add_argument("--quick", action="store_true", help="2000 URLs")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--hash-workers", type=int, default=1)
    parser.add_argument(
        "--perceptual",
        action="store_true",
        help="baselines without digests: every online image is decoded",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="ours only, 100k due checks: peak memory (goal <= 300 MB)",
    )
    args = parser.parse_args()
    n = args.n or (2000 if args.quick else 100_000 if args.memory else 20_000)
    world = World(scenario(n))
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    try:
        await prepare_and_measure(args, n, world, work)
    finally:
        await world.stop()
        shutil.rmtree(work, ignore_errors=True)


async def prepare_and_measure(args: argparse.Namespace, n: int, world: World, work: Path) -> None:
    from monitor.sim import truth

    print(f"preparing a world of {n} items ...", flush=True)
    if args.memory:
        pooled(world)
    world.prerender()
    await world.start()
    when = world.scenario.start + timedelta(hours=3)
    world.set_now(when)
    files = truth.write(world, work / "world")
    urls = work / "urls.txt"
    urls.write_text("\n".join(world.url(i) for i in world.plan.reports()) + "\n")
    images = sum(1 for i in world.plan.reports() if i.removal_at is None)
    kind = "perceptual baselines" if args.perceptual else "baselines with SHA-256"
    print(
        f"{n} URLs, {images} still-online images, {kind}, hash_workers="
        f"{args.hash_workers}; timing ...",
        flush=True,
    )

    async def ours() -> dict:
        db = fresh_db(work, files["reports"], digests=not args.perceptual)
        out = await run_child(
            [sys.executable, __file__, "--_child", str(db), clock.iso(when), str(args.hash_workers)]
        )
        return json.loads(out)

    if args.memory:
        got = await ours()
        total = got["main_mb"] + got["workers_mb"]
        print(
            f"ours: {got['written']} checks in {got['seconds']:.1f} s "
            f"({got['written'] / got['seconds']:.1f} URLs/s; CPU: crawl process "
            f"{got['main_cpu']:.1f} s, hash workers {got['workers_cpu']:.1f} s)"
        )
        print(
            f"peak memory for {n} due checks: crawl process {got['main_mb']} MiB + "
            f"{got['workers']} hash worker(s) {got['workers_mb']} MiB = {total} MiB "
            f"(goal <= 300 MB); largest sampled simultaneous total "
            f"{got['sampled_total_mb']} MiB"
        )
        return

    results: dict[str, list[float]] = {"ours": [], "plain": [], "tuned": []}
    memory: list[dict] = []
    for _ in range(args.repeat):
        for mode in ("plain", "tuned"):
            out = (
                await run_child(
                    [
                        sys.executable,
                        str(ROOT / "bench" / "_fetch_only.py"),
                        mode,
                        str(urls),
                        str(work / f"{mode}-{time.monotonic_ns()}.db"),
                    ]
                )
            ).split()
            results[mode].append(int(out[0]) / float(out[1]))
        got = await ours()
        results["ours"].append(got["written"] / got["seconds"])
        memory.append(got)
    med = {k: statistics.median(v) for k, v in results.items()}
    runs = {k: " ".join(f"{x:.0f}" for x in v) for k, v in results.items()}
    peak = max(m["main_mb"] + m["workers_mb"] for m in memory)
    main_ms = statistics.median(m["main_cpu"] / m["written"] * 1e3 for m in memory)
    worker_ms = statistics.median(m["workers_cpu"] / m["written"] * 1e3 for m in memory)
    print(
        f"ours (fetch+hash+classify+store): {med['ours']:8.1f} URLs/s  [{runs['ours']}]  "
        f"peak RSS {peak} MiB (crawl process + hash workers)"
    )
    print(f"    CPU per URL: crawl process {main_ms:.2f} ms, hash workers {worker_ms:.2f} ms")
    print(
        f"(a) plain Scrapy, default:       {med['plain']:8.1f} URLs/s  [{runs['plain']}]  "
        f"ratio ours/(a) = {med['ours'] / med['plain']:.2f}x (goal >= 1.0x)"
    )
    print(
        f"(b) tuned Scrapy fetch-only:     {med['tuned']:8.1f} URLs/s  [{runs['tuned']}]  "
        f"ratio ours/(b) = {med['ours'] / med['tuned']:.2f}x (goal >= 0.6x)"
    )
    print(f"world requests served: {world.requests}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        asyncio.run(main())
