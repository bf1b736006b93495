"""The demo: the whole job end to end on a simulated hoster world, with measured vs. true.

Starts the hoster world, its Team Cymru-style DNS and the alert receivers on loopback; creates a
fresh database; imports hosters, reports and a hash list; steps the clock through the schedule
(crawling what is due at each step in one long-running crawl, attributing ASNs, sending
alerts); writes demo-report.html and demo-report.json; prints the per-hoster comparison of
measured and true takedown times. It fails (exit 1) when a measured median misses the truth by
more than the measurement resolution.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor import clock, store
from monitor.config import Config
from monitor.schedule import last_slot_at_or_before, next_check
from monitor.timeline import Timeline


@dataclass
class HosterComparison:
    hoster: str
    notices: int
    true_median: float | None
    measured_median: float | None
    true_within_24h: float | None
    measured_within_24h: float | None
    resolution: float
    ok: bool


@dataclass
class DemoResult:
    out: Path
    comparisons: list[HosterComparison] = field(default_factory=list)
    checks: int = 0
    steps: int = 0
    alerts_sent: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)


def scale(scenario, *, hosters: int, reports: int, days: int, seed: int):
    """The shipped demo scenario resized: `hosters` hosters sharing `reports` items."""
    base = list(scenario.hosters)
    chosen = []
    for i in range(hosters):
        h = base[i % len(base)]
        if i >= len(base):
            h = replace(h, name=f"{h.name} {i // len(base) + 1}", asn=h.asn + 100 * (i // len(
                base)), ip=f"127.0.1.{i + 1}", ipv6=False, prefix=None)
        chosen.append(replace(h, items=max(1, reports // hosters + (i < reports % hosters))))
    return replace(scenario, hosters=tuple(chosen), days=float(days), seed=seed,
                   report_window_days=min(scenario.report_window_days, max(days / 3, 0.5)))


def demo_config(dns_address: str, smtp_port: int) -> Config:
    base = Config()
    return replace(
        base,
        crawl=replace(base.crawl, allow_private_networks=True, nameservers=(dns_address,),
                      autothrottle=False, download_timeout=timedelta(seconds=2),
                      max_download_bytes=8 * 1024 * 1024, hash_workers=1),
        asn=replace(base.asn, nameservers=(dns_address,), timeout=timedelta(seconds=1)),
        alerts=replace(base.alerts, smtp_host="127.0.0.1", smtp_port=smtp_port),
    )


def truth_by_hoster(plan, end: datetime) -> dict[str, dict[str, Any]]:
    """True median hours and within-24h share per hoster, as the demo could have seen them:
    an item removed after `end`, or never, counts as not removed. The median is the low median
    (the time by which half were removed), the same definition as Kaplan-Meier's."""
    out: dict[str, dict[str, Any]] = {}
    for item in plan.reports():
        hours = math.inf
        if item.removal_at is not None and item.removal_at <= end:
            hours = (item.removal_at - item.noticed_at).total_seconds() / 3600
        out.setdefault(item.hoster, {"hours": []})["hours"].append(hours)
    for row in out.values():
        hours = row["hours"]
        median = statistics.median_low(hours)
        row["median"] = None if math.isinf(median) else median
        row["within_24h"] = sum(h <= 24 for h in hours) / len(hours)
    return out


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # any notice time: slots are offsets from it
_SECOND = timedelta(seconds=1)


def _hours_after_notice(slot: datetime | None) -> float:
    return 0.0 if slot is None else (slot - _EPOCH).total_seconds() / 3600


def resolution_at(hours: float, schedule) -> float:
    """The gap between the scheduled checks around `hours` after notice: how precisely a
    removal at that time can be measured."""
    at = _EPOCH + timedelta(hours=hours)
    later = next_check(_EPOCH, Timeline(), schedule, last_due_at=at - _SECOND)
    earlier = last_slot_at_or_before(_EPOCH, schedule, at - _SECOND)
    return _hours_after_notice(later) - _hours_after_notice(earlier)


def last_slot(hours: float, schedule) -> float:
    """The last scheduled check (hours after notice) at or before `hours`."""
    return _hours_after_notice(
        last_slot_at_or_before(_EPOCH, schedule, _EPOCH + timedelta(hours=hours)))


def compare(report_json: dict[str, Any], truth: dict[str, dict[str, Any]],
            schedule, follow_up: float = math.inf) -> list[HosterComparison]:
    """Measured against true per hoster; `follow_up` is the shortest time (hours) every
    notice was observed for."""
    rows = []
    for group in report_json["groups"]:
        name = group["hoster"]
        true = truth.get(name)
        if true is None:
            continue
        measured = group.get("median_hours")
        within = (group.get("removed_within") or {}).get("24")
        if true["median"] is None or measured is None:
            resolution = 0.0
            # A true median beyond the checks the window allowed cannot be measured: the
            # report then says "not reached", which is the honest answer, not an error.
            ok = measured is None and (true["median"] is None
                                       or true["median"] > last_slot(follow_up, schedule))
        else:
            resolution = resolution_at(true["median"], schedule)
            ok = -0.25 <= measured - true["median"] <= resolution + 0.25
        rows.append(HosterComparison(name, group["notices"], true["median"], measured,
                                     true["within_24h"], within, resolution, ok))
    return rows


def steps_from(db, start: datetime, end: datetime):
    """Each next time anything is due, until `end`: every check runs exactly at its slot."""
    current = start
    while current <= end:
        yield current
        row = db.execute("SELECT MIN(next_check_at) FROM reports WHERE next_check_at > ?",
                         [clock.iso(current)]).fetchone()
        if row[0] is None:
            return
        current = clock.parse(row[0])


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def db_fresh(path: Path):
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return store.connect(path)


async def run_demo(*, days: int = 30, hosters: int = 8, reports: int = 500, seed: int = 1,
                   out: str | Path = ".", progress: bool = True) -> DemoResult:
    """Run the whole job on a simulated world; see the module docstring."""
    import os
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from monitor.alerts import send_pending
    from monitor.crawl import run_crawl
    from monitor.import_hashes import import_hashes
    from monitor.import_hosters import import_hosters
    from monitor.import_reports import import_reports
    from monitor.progress import console
    from monitor.sim import scenario as scenarios
    from monitor.sim import truth
    from monitor.sim.dns import CymruDNS
    from monitor.sim.receivers import SmtpSink, WebhookReceiver
    from monitor.sim.world import World
    from reports.build import build_report
    from reports.render import render, write_report

    started = time.monotonic()
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    scn = scale(scenarios.load("default"), hosters=hosters, reports=reports, days=days,
                seed=seed)
    secrets = truth.webhook_secrets(scn)
    os.environ.update(secrets)  # the hosters CSV names these variables; never stored
    dns = CymruDNS()
    dns.start()
    sink = SmtpSink().start()
    receiver = WebhookReceiver({truth.webhook_path(h): secrets[truth.secret_env(h)]
                                for h in scn.hosters if h.webhook})
    await receiver.start()
    world = World(scn)
    await world.start()
    world.attach_dns(dns)
    result = DemoResult(out=target)
    try:
        files = truth.write(world, target / "demo-world", webhook_base=receiver.url)
        db_file = target / "demo.db"
        db = db_fresh(db_file)
        config = demo_config(dns.address, sink.port)
        clock.fix(scn.start)
        world.set_now(scn.start)
        import_hosters(db, files["hosters"])
        import_reports(db, files["reports"], config)
        import_hashes(db, files["hashes"], "demo-hash-list", source="simulated hotline list")
        end = scn.start + timedelta(days=days)
        last_alerts = [scn.start]

        with Progress(TextColumn("[bold]simulating"), BarColumn(),
                      TextColumn("day {task.fields[day]:>5.1f}/{task.total:.0f}"),
                      TextColumn("{task.fields[checks]} checks"), TimeElapsedColumn(),
                      console=console, disable=not progress) as bar:
            task = bar.add_task("demo", total=days, day=0.0, checks=0)

            async def on_step(when: datetime) -> None:
                world.set_now(when)
                clock.fix(when)
                result.steps += 1
                if when - last_alerts[0] >= timedelta(hours=6):
                    last_alerts[0] = when
                    stats = await send_pending(db, config)
                    result.alerts_sent += stats.sent
                day = (when - scn.start).total_seconds() / 86400
                bar.update(task, completed=day, day=day)

            def on_progress(done: int, _total: int, _counts: dict[str, int]) -> None:
                result.checks = done
                bar.update(task, checks=done)

            await run_crawl(db_file, config, steps=steps_from(db, scn.start, end),
                            on_step=on_step, on_progress=on_progress)
            clock.fix(end)
            world.set_now(end)
            result.alerts_sent += (await send_pending(db, config)).sent
            bar.update(task, completed=days, day=float(days))
        report = build_report(db, config, now=end)
        write_report(report, target / "demo-report.html", "html")
        write_report(report, target / "demo-report.json", "json")
        data = json.loads(render(report, "json"))
        last_notice = max(i.noticed_at for i in world.plan.reports())
        result.comparisons = compare(data, truth_by_hoster(world.plan, end), config.schedule,
                                     follow_up=(end - last_notice).total_seconds() / 3600)
        db.conn.close()
    finally:
        await world.stop()
        await receiver.stop()
        sink.stop()
        dns.stop()
        clock.fix(None)
    result.seconds = time.monotonic() - started
    return result


def _hours(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_result(result: DemoResult) -> None:
    """The per-hoster table: measured vs. true median and within-24h share, with the error."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Measured vs. true takedown times per hoster (hours from notice)",
                  title_justify="left")
    for column in ("hoster", "notices", "true median", "measured", "error", "resolution",
                   "true <=24h", "measured <=24h", "ok"):
        table.add_column(column, justify="left" if column == "hoster" else "right")
    for c in result.comparisons:
        error = (f"{c.measured_median - c.true_median:+.1f}"
                 if c.measured_median is not None and c.true_median is not None else "-")
        table.add_row(c.hoster, str(c.notices), _hours(c.true_median),
                      _hours(c.measured_median), error, f"{c.resolution:.1f}",
                      _share(c.true_within_24h), _share(c.measured_within_24h),
                      "yes" if c.ok else "[red]NO[/red]")
    console.print(table)
    console.print(f"{result.checks} checks in {result.steps} clock steps, "
                  f"{result.alerts_sent} alerts delivered, {result.seconds:.0f} s; "
                  f"report: {result.out / 'demo-report.html'}")
