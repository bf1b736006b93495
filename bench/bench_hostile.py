"""Hostile hosters and bad input (issue 18): every case tried, held or failed, with its cost.

Two kinds of case, each run in a fresh process so that its peak memory is its own:
  server  one recheck of one reported URL against the hostile hoster of
          tests/test_hostile_servers.py (CASES), served from a separate process on 127.0.0.1
          that built every body and baseline up front; hashed in a hash worker process as in
          production (`hash_workers = 1`); held when the check's outcome and reason are the
          row's; cost = the larger peak RSS of the crawl process (VmHWM) and the hash worker
          (children's ru_maxrss), and the wall time of the whole process (start-up, import,
          crawl, store);
  input   one `python -m monitor ...` command on a poisoned file, config or database (INPUTS);
          held when it exits with the expected code, prints no traceback and names the bad
          input (file:line, the config key, or the database's trouble).
Then SIGTERM: a `crawl` of 20 slow-drip reported URLs, its downloads in flight, is sent SIGTERM;
the time to its exit is measured.

Baselines measured in the same run: the benign check (the reported bytes served as they were
reported: image/jpeg, status 200) for each case's RSS and wall time; for the stop, the same
crawl left to finish (what a stop that waits for the downloads in flight would cost). Goals
(issue 18): every case held; peak RSS per check <= 300 MB; longest single check <= check
deadline + 5 s; stop after SIGTERM <= 5 s.

    python bench/bench_hostile.py [--quick]   (--quick: 5 s check deadline; about 2 min, else 6)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PY = sys.executable
BENIGN = "benign_exact_jpeg"


def _cases():
    from tests import test_hostile_servers as h

    benign = h.Case(
        BENIGN,
        "the reported bytes as image/jpeg (baseline)",
        "online",
        ("hash_match",),
        h._bytes(h.reported, "image/jpeg"),
        h.reported_baseline,
    )
    return h, (benign, *h.CASES)


# -- the hostile hoster, in its own process ----------------------------------------------------


def serve(baselines: str) -> None:
    """Serve the cases; first build every body and baseline once (so no check waits for a
    drawing, and no checking process holds one) and write the baselines to `baselines`."""
    from aiohttp import web

    h, cases = _cases()
    h._big(), h.gzip_bomb(), h.reencoded()  # noqa: B018 - cached bodies, built up front
    Path(baselines).write_text(json.dumps({c.id: c.baseline() for c in cases}))

    async def main() -> None:
        runner = web.AppRunner(h.hostile_app(cases), shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
        await runner.cleanup()

    asyncio.run(main())


def peak_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def check_one(case_id: str, base: str, deadline: float, baselines: str) -> None:
    """One recheck of one case (a fresh process), hashed in a hash worker process as in
    production: prints outcome, reason, seconds and the peak RSS of both processes."""
    import resource

    from monitor import store
    from monitor.core import clock
    from monitor.intake.reports import import_reports
    from monitor.runners.crawl import run_crawl
    from tests import test_hostile_servers as h
    from tests.crawl_helpers import crawl_config

    b = json.loads(Path(baselines).read_text())[case_id]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = crawl_config(download_timeout=timedelta(seconds=30), hash_workers=1)
        started = time.perf_counter()
        clock.fix(clock.parse(h.CHECK_AT))
        (directory / "r.csv").write_text(
            "url,reference,reported_at,noticed_at,phash,pdq,sha256\n"
            f"{base}/c/{case_id},{case_id},{h.NOTICED},{h.NOTICED},{b.get('phash', '')},"
            f"{b.get('pdq', '')},{b.get('sha256', '')}\n"
        )
        db = store.connect(directory / "b.db", create=True)
        result = import_reports(db, directory / "r.csv", config)
        assert result.bad == 0, result.errors
        db.conn.close()
        asyncio.run(
            run_crawl(directory / "b.db", config, resolve_asn=False, NTD_CHECK_DEADLINE=deadline)
        )
        db = store.connect(directory / "b.db")
        row = db.execute("SELECT outcome, reason FROM checks").fetchone()
        db.conn.close()
        seconds = time.perf_counter() - started
    # the hash worker has exited: its peak is the children's ru_maxrss (a bound from above:
    # Linux starts a child's count at its parent's size when it forks)
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "outcome": row[0] if row else None,
                "reason": row[1] if row else None,
                "seconds": seconds,
                "peak_mb": max(peak_mb(), worker_mb),
                "crawl_mb": peak_mb(),
                "worker_mb": worker_mb,
            }
        )
    )


# -- the poisoned inputs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    id: str
    files: dict[str, str]  # name -> text written into the case's folder
    args: tuple[str, ...]  # after `python -m monitor --db <dir>/t.db`
    code: int  # expected exit code
    names: str = ""  # text the error output must contain
    setup: str = ""  # "init", "damaged", "text", "locked": the database before


REPORTS_HEADER = "url,reference,reported_at,noticed_at\n"
GOOD = "http://198.51.100.7/ok.jpg,NL-1,2026-01-01T00:00:00Z,\n"
HOSTERS_HEADER = "name,asn,prefix,country,abuse_email,webhook_url,webhook_secret_env\n"


def _reports(bad_row: str) -> dict[str, str]:
    return {"r.csv": REPORTS_HEADER + GOOD + bad_row}


def _config(text: str) -> dict[str, str]:
    return {"c.toml": text}


INPUTS: tuple[Input, ...] = (
    Input(
        "config: user_agent with CR/LF",
        _config('[crawl]\nuser_agent = "a\\r\\nX-Evil: 1"\n'),
        ("--config", "{d}/c.toml", "schedule"),
        2,
        "user_agent",
        "init",
    ),
    Input(
        'config: deadlines_hours ["abc"]',
        _config('[report]\ndeadlines_hours = ["abc"]\n'),
        ("--config", "{d}/c.toml", "schedule"),
        2,
        "deadlines_hours",
        "init",
    ),
    Input(
        "config: per_hoster_concurrency = 0",
        _config("[crawl]\nper_hoster_concurrency = 0\n"),
        ("--config", "{d}/c.toml", "crawl"),
        2,
        "per_hoster_concurrency",
        "init",
    ),
    Input(
        "config: allow_private_networks",
        _config("[crawl]\nallow_private_networks = true\n"),
        ("--config", "{d}/c.toml", "crawl"),
        2,
        "allow_networks",
        "init",
    ),
    Input(
        "config: allow_networks 169.254.0.0/16",
        _config('[crawl]\nallow_networks = ["169.254.0.0/16"]\n'),
        ("--config", "{d}/c.toml", "crawl"),
        2,
        "allow_networks",
        "init",
    ),
    Input(
        "config: missing routing_table",
        _config('[asn]\nrouting_table = "/nonexistent/t"\n'),
        ("--config", "{d}/c.toml", "crawl"),
        2,
        "routing_table",
        "init",
    ),
    Input(
        "reports: year 9999",
        _reports("http://198.51.100.7/a.jpg,A,9999-01-01T00:00:00Z,\n"),
        ("import", "reports", "{d}/r.csv"),
        2,
        "r.csv:3",
        "init",
    ),
    Input(
        "reports: year 0999",
        _reports("http://198.51.100.7/b.jpg,B,0999-01-01T00:00:00Z,\n"),
        ("import", "reports", "{d}/r.csv"),
        2,
        "r.csv:3",
        "init",
    ),
    Input(
        "reports: year 2999",
        _reports("http://198.51.100.7/c.jpg,C,2999-01-01T00:00:00Z,\n"),
        ("import", "reports", "{d}/r.csv"),
        2,
        "r.csv:3",
        "init",
    ),
    Input(
        "reports: reference with CR/LF",
        _reports('http://198.51.100.7/d.jpg,"NL-1\r\nBcc: x@evil.example",2026-01-01T00:00:00Z,\n'),
        ("import", "reports", "{d}/r.csv"),
        2,
        "r.csv:",
        "init",
    ),
    Input(
        "reports: credentials in URL",
        _reports("http://user:pw@198.51.100.7/e.jpg,E,2026-01-01T00:00:00Z,\n"),
        ("import", "reports", "{d}/r.csv"),
        2,
        "r.csv:3",
        "init",
    ),
    Input(
        "reports: port 0",
        _reports("http://198.51.100.7:0/f.jpg,F,2026-01-01T00:00:00Z,\n"),
        ("import", "reports", "{d}/r.csv"),
        2,
        "r.csv:3",
        "init",
    ),
    Input(
        "reports: host a..b",
        _reports("http://a..b/g.jpg,G,2026-01-01T00:00:00Z,\n"),
        ("import", "reports", "{d}/r.csv"),
        2,
        "r.csv:3",
        "init",
    ),
    Input(
        "hosters: ASN in superscript digits",
        {"h.csv": HOSTERS_HEADER + "Sup Host,\u00b2,,NL,abuse@sup.example,,\n"},
        ("hosters", "import", "{d}/h.csv"),
        2,
        "h.csv:2",
        "init",
    ),
    Input(
        "hosters: ASN in Arabic-Indic digits",
        {"h.csv": HOSTERS_HEADER + "Arab Host,\u0663\u0664,,NL,abuse@arab.example,,\n"},
        ("hosters", "import", "{d}/h.csv"),
        2,
        "h.csv:2",
        "init",
    ),
    Input(
        "hosters: prefix 0.0.0.0/0",
        {"h.csv": HOSTERS_HEADER + "All Host,64500,0.0.0.0/0,NL,abuse@all.example,,\n"},
        ("hosters", "import", "{d}/h.csv"),
        2,
        "h.csv:2",
        "init",
    ),
    Input(
        "hosters: webhook to 169.254.169.254",
        {
            "h.csv": HOSTERS_HEADER + "Meta Host,64501,,NL,abuse@meta.example,"
            "http://169.254.169.254/latest,\n"
        },
        ("hosters", "import", "{d}/h.csv"),
        2,
        "h.csv:2",
        "init",
    ),
    Input(
        "hosters: name with CR/LF",
        {"h.csv": HOSTERS_HEADER + '"Evil\r\nHost",64502,,NL,abuse@evil.example,,\n'},
        ("hosters", "import", "{d}/h.csv"),
        2,
        "h.csv:2",
        "init",
    ),
    Input("database: 8 KB overwritten, crawl", {}, ("crawl",), 2, "damaged", "damaged"),
    Input(
        "database: 8 KB overwritten, import",
        _reports(""),
        ("import", "reports", "{d}/r.csv"),
        2,
        "damaged",
        "damaged",
    ),
    Input("database: status on a text file", {}, ("status",), 2, "not an SQLite", "text"),
    Input("database: second crawl while one runs", {}, ("crawl",), 2, "another crawl", "locked"),
)


def _damage(db: Path) -> None:
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.seek(max(4096, size // 2 - 4096))
        fh.write(os.urandom(8192))


def _prepare_db(case: Input, d: Path) -> subprocess.Popen | None:
    db = d / "t.db"
    if case.setup == "text":
        db.write_text("not a database\n")
        return None
    subprocess.run([PY, "-m", "monitor", "--db", str(db), "init"], check=True, capture_output=True)
    if case.setup == "damaged":
        rows = "".join(
            f"http://198.51.100.{i % 250 + 1}/{i}.jpg,R{i},2026-01-01T00:00:00Z,\n"
            for i in range(3000)
        )
        (d / "many.csv").write_text(REPORTS_HEADER + rows)
        subprocess.run(
            [PY, "-m", "monitor", "--db", str(db), "import", "reports", str(d / "many.csv")],
            check=True,
            capture_output=True,
        )
        _damage(db)
    if case.setup == "locked":  # a process holding the crawl lock, as a running crawl does
        holder = subprocess.Popen(
            [
                PY,
                "-c",
                "import sys, time; from monitor import store\n"
                "with store.exclusive(sys.argv[1]):\n print('held', flush=True); time.sleep(60)",
                str(db),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert holder.stdout is not None
        holder.stdout.readline()
        return holder
    return None


def run_input(case: Input) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, text in case.files.items():
            (d / name).write_text(text, encoding="utf-8", newline="")
        holder = _prepare_db(case, d)
        args = [a.replace("{d}", str(d)) for a in case.args]
        cmd = [PY, "-c", _MEASURED, "--db", str(d / "t.db"), *args]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
        seconds = time.perf_counter() - started
        if holder is not None:
            holder.kill()
            holder.wait()
    err = done.stderr
    peak = 0.0
    for line in err.splitlines():
        if line.startswith("NTD-PEAK-MB "):
            peak = float(line.split()[1])
    output = done.stdout + err
    held = (
        done.returncode == case.code
        and "Traceback" not in output
        and case.names.lower() in output.lower()
    )
    return {
        "held": held,
        "code": done.returncode,
        "seconds": seconds,
        "peak_mb": peak,
        "said": next((x for x in err.splitlines() if x and not x.startswith("NTD-PEAK")), ""),
    }


# runs the CLI in this process and reports its own peak RSS on the way out
_MEASURED = """
import atexit, sys
def _peak():
    with open('/proc/self/status') as fh:
        kb = next(int(x.split()[1]) for x in fh if x.startswith('VmHWM:'))
    sys.stderr.write(f'NTD-PEAK-MB {kb / 1024:.1f}\\n')
atexit.register(_peak)
sys.argv = ['ntd-monitor'] + sys.argv[1:]
from monitor.cli.main import main
main()
"""


# -- SIGTERM -----------------------------------------------------------------------------------


def stop_time(base: str, deadline: float, signalled: bool) -> float:
    """Seconds from the moment a `crawl` of 20 slow-drip URLs has its downloads in flight to
    its exit: after SIGTERM (ours), or left to finish (the baseline: what a stop that waits
    for the downloads in flight costs; they end at the check deadline)."""
    from tests import test_hostile_servers as h

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        db = d / "t.db"
        rows = "".join(
            f"{base}/c/slow_drip_image?n={i},S{i},{h.NOTICED},{h.NOTICED}\n" for i in range(20)
        )
        (d / "r.csv").write_text(REPORTS_HEADER + rows)
        (d / "c.toml").write_text(
            '[crawl]\nallow_networks = ["127.0.0.0/8"]\n'
            "autothrottle = false\nper_hoster_concurrency = 20\n"
            f'check_deadline = "{deadline:g}s"\n'
        )
        common = [PY, "-m", "monitor", "--db", str(db), "--config", str(d / "c.toml")]
        subprocess.run([*common, "init"], check=True, capture_output=True, cwd=ROOT)
        subprocess.run(
            [*common, "import", "reports", str(d / "r.csv")],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        proc = subprocess.Popen(
            [*common, "--now", h.CHECK_AT, "crawl", "--no-progress"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(6.0)  # start-up, and the downloads under way
        sent = time.perf_counter()
        if signalled:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=deadline + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return time.perf_counter() - sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s check deadline")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--baselines", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.check:
        check_one(args.check, args.base, args.deadline, args.baselines)
        return 0
    deadline = 5.0 if args.quick else 60.0
    tmp = tempfile.TemporaryDirectory()
    baselines = str(Path(tmp.name) / "baselines.json")
    server = subprocess.Popen(
        [PY, __file__, "--serve", baselines],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert server.stdout is not None
    base = f"http://127.0.0.1:{server.stdout.readline().strip()}"
    _, cases = _cases()
    rows: list[tuple[str, str, bool, float, float, str]] = []
    try:
        for case in cases:
            out = subprocess.run(
                [
                    PY,
                    __file__,
                    "--check",
                    case.id,
                    "--base",
                    base,
                    "--deadline",
                    str(deadline),
                    "--baselines",
                    baselines,
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=600,
            )
            try:
                got = json.loads(out.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                got = {
                    "outcome": "crash",
                    "reason": out.stderr.strip()[-200:],
                    "seconds": 0,
                    "peak_mb": 0,
                    "crawl_mb": 0,
                    "worker_mb": 0,
                }
            held = got["outcome"] == case.outcome and got["reason"] in case.reasons
            rows.append(
                (
                    f"server: {case.id}",
                    f"{got['outcome']}/{got['reason']}",
                    held,
                    got["peak_mb"],
                    got["seconds"],
                    f"crawl {got['crawl_mb']:.0f} MB, hash worker {got['worker_mb']:.0f} MB",
                )
            )
            print(
                f"  {rows[-1][0]:<44} {rows[-1][1]:<28} {'held' if held else 'FAILED'}", flush=True
            )
        for item in INPUTS:
            got = run_input(item)
            rows.append(
                (
                    f"input: {item.id}",
                    f"exit {got['code']}",
                    got["held"],
                    got["peak_mb"],
                    got["seconds"],
                    got["said"][:70],
                )
            )
            print(
                f"  {rows[-1][0]:<44} {rows[-1][1]:<28} {'held' if got['held'] else 'FAILED'}",
                flush=True,
            )
        stop_deadline = 20.0 if args.quick else 60.0
        stop_ours = stop_time(base, stop_deadline, signalled=True)
        stop_base = stop_time(base, stop_deadline, signalled=False)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
        tmp.cleanup()
    benign = rows[0]
    print("\n| case | outcome | held | peak RSS MB | x benign | wall s | x benign | note |")
    print("|---|---|---|---|---|---|---|---|")
    for name, outcome, held, peak, seconds, note in rows:
        ratio_mem = peak / benign[3] if benign[3] else 0.0
        ratio_time = seconds / benign[4] if benign[4] else 0.0
        print(
            f"| {name} | {outcome} | {'yes' if held else 'NO'} | {peak:.0f} | "
            f"{ratio_mem:.2f}x | {seconds:.1f} | {ratio_time:.2f}x | {md(note)} |"
        )
    tried = len(rows)
    held_n = sum(1 for r in rows if r[2])
    server_rows = [r for r in rows if r[0].startswith("server:")]
    biggest = max(server_rows, key=lambda r: r[3])
    longest = max(server_rows, key=lambda r: r[4])
    print(f"\nhostile cases tried {tried}, held {held_n}, failed {tried - held_n}")
    print(f"baseline (the benign check, same run): peak {benign[3]:.0f} MB, {benign[4]:.1f} s")
    print(
        f"largest peak RSS of one check: {biggest[3]:.0f} MB ({biggest[0]}; "
        f"{biggest[3] / benign[3]:.2f}x the benign check; goal <= 300 MB)"
    )
    print(
        f"longest single check, whole process: {longest[4]:.1f} s ({longest[0]}; "
        f"check deadline {deadline:g} s; goal <= deadline + 5 s)"
    )
    print(
        f"stop with 20 slow downloads in flight: {stop_ours:.2f} s after SIGTERM, "
        f"{stop_base:.1f} s when left to finish (baseline, check deadline "
        f"{stop_deadline:g} s): {stop_ours / stop_base:.3f}x (goal <= 5 s)"
    )
    return 0 if held_n == tried else 1


def md(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    sys.exit(main())
