"""Distributed crawl throughput: 1 worker vs 2 workers on the same 2 cores, same world.

N due URLs (60% still-online images with baselines, the rest 404/410/451 and redirects) on 8
hosters of the simulated world, which runs in this process. For each fleet size: a fresh
database, `enqueue_due` into a private redis-server, then N `ntd-monitor worker` processes
(hashing in their own loop: one worker = one core) until the stream holds an observation for
every URL. URLs/s counts from the workers' launch (start-up included in both). Then the single
writer (`ntd-monitor ingest`) stores the stream, timed on its own: its rows/s is the limit of
one SQLite writer (docs/scaling.md). Goal (issue 9): 2 workers >= 1.6x of 1 worker.

    python bench/bench_distributed.py [--quick] [--n 20000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import store  # noqa: E402
from monitor.core import clock  # noqa: E402
from monitor.sim.redis_proc import RedisServer, available  # noqa: E402
from monitor.sim.scenario import from_dict  # noqa: E402
from monitor.sim.world import World  # noqa: E402

BEHAVIOURS = {"404": 0.4, "410": 0.2, "451": 0.2, "redirect_front": 0.2}
HOSTERS = 8

CONFIG = """[crawl]
allow_networks = ["127.0.0.0/8", "::1/128"]
autothrottle = false
hash_workers = 0
concurrent_requests = 64
per_hoster_concurrency = 16
[distributed]
key_prefix = "{prefix}"
"""


def scenario(n: int):
    hosters = [
        {
            "name": f"Bench {i}",
            "asn": 64700 + i,
            "items": n // HOSTERS,
            "galleries": 0,
            "formats": {"jpeg": 1.0},
            "delay": {"dist": "fixed", "median_hours": 2, "never_share": 0.6},
            "after": BEHAVIOURS,
        }
        for i in range(HOSTERS)
    ]
    return from_dict(
        {
            "name": "bench-distributed",
            "seed": 5,
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


async def run(cmd: list[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _out, err = await proc.communicate()
    return proc.returncode or 0, err.decode()


async def fleet(
    workers: int, n: int, work: Path, reports_csv: Path, redis: RedisServer, now: str
) -> tuple[float, float]:
    """(worker URLs/s, ingest rows/s) for one fleet size, on a fresh database and key prefix."""
    from monitor.core.config import load
    from monitor.distributed.conn import connect
    from monitor.distributed.keys import Keys
    from monitor.intake.reports import import_reports
    from monitor.runners.enqueue import enqueue_due

    prefix = f"bench{workers}-{time.monotonic_ns()}"
    cfg_file = work / f"{prefix}.toml"
    cfg_file.write_text(CONFIG.format(prefix=prefix))
    config = load(cfg_file)
    db_file = work / f"{prefix}.db"
    import_reports(store.connect(db_file), reports_csv, config)
    client = connect(redis.url)
    db = store.connect(db_file)
    sent = enqueue_due(db, config, client, now=clock.parse(now))
    db.conn.close()
    assert sent.checks == n, sent
    base = [
        sys.executable,
        "-m",
        "monitor",
        "--db",
        str(db_file),
        "--config",
        str(cfg_file),
        "--now",
        now,
    ]
    started = time.perf_counter()
    world_cpu = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = [
        await asyncio.create_subprocess_exec(
            *base,
            "worker",
            "--redis",
            redis.url,
            "--no-progress",
            "--name",
            f"w{i}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for i in range(workers)
    ]
    items = Keys(prefix).items
    seen, moved = 0, time.perf_counter()
    while seen < n:
        await asyncio.sleep(0.05)
        count = client.xlen(items)
        if count > seen:
            seen, moved = count, time.perf_counter()
        stalled = time.perf_counter() - moved > 60
        if stalled or any(p.returncode is not None for p in procs):
            for p in procs:
                if p.returncode is None:
                    p.terminate()
            errors = [(await p.stderr.read()).decode()[-1500:] for p in procs if p.stderr]
            raise SystemExit(
                f"{'stalled at ' + str(seen) if stalled else 'a worker died'}: {errors}"
            )
    crawl_s = time.perf_counter() - started
    world_ms = (time.process_time() - world_cpu) * 1000 / n
    for p in procs:
        p.terminate()
    shares = []
    for p in procs:
        err = (await p.stderr.read()).decode() if p.stderr else ""
        await p.wait()
        found = re.search(r"checks\s*│\s*(\d+)", err)
        shares.append(int(found.group(1)) if found else -1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_ms = (
        ((after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)) * 1000 / n
    )
    print(
        f"    checks per worker: {shares}; CPU per URL: workers {worker_ms:.2f} ms, "
        f"world (this process) {world_ms:.2f} ms",
        flush=True,
    )
    started = time.perf_counter()
    code, err = await run(
        [*base, "ingest", "--redis", redis.url, "--idle-exit", "0.5", "--no-asn"]
    )  # no ASN stage: no DNS server in this bench
    ingest_s = time.perf_counter() - started - 0.5
    if code:
        raise SystemExit(f"ingest failed: {err[-1500:]}")
    db = store.connect(db_file)
    stored = db.execute("SELECT count(*) FROM checks").fetchone()[0]
    db.conn.close()
    assert stored == n, (stored, n)
    client.close()
    return n / crawl_s, n / ingest_s


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="4000 URLs")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if not available():
        raise SystemExit("bench_distributed needs redis-server (apt-get install redis-server)")
    n = 4000 if args.quick else args.n
    n -= n % HOSTERS
    from monitor.sim import truth

    world = World(scenario(n))
    work = Path(tempfile.mkdtemp(prefix="bench-dist-"))
    print(f"preparing a world of {n} items on {HOSTERS} hosters ...", flush=True)
    world.prerender()
    await world.start()
    when = world.scenario.start + timedelta(hours=3)
    world.set_now(when)
    files = truth.write(world, work / "world")
    rates: dict[int, list[float]] = {1: [], 2: []}
    ingest: list[float] = []
    with RedisServer(work / "redis") as redis:
        for _ in range(args.repeat):
            for workers in (1, 2):
                crawl, write = await fleet(
                    workers, n, work, files["reports"], redis, clock.iso(when)
                )
                rates[workers].append(crawl)
                ingest.append(write)
                print(
                    f"  {workers} worker(s): {crawl:7.1f} URLs/s; ingest {write:7.1f} rows/s",
                    flush=True,
                )
    await world.stop()
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"1 worker  (baseline): {one:8.1f} URLs/s")
    print(f"2 workers (ours):     {two:8.1f} URLs/s  speed-up {two / one:.2f}x (goal >= 1.6x)")
    print(f"single writer (ingest): {statistics.median(ingest):8.1f} rows/s (median)")


if __name__ == "__main__":
    asyncio.run(main())
