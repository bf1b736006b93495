"""The demo: the whole job end to end on a simulated hoster world, with measured vs. true.

Starts the hoster world, its Team Cymru-style DNS and the alert receivers on loopback; creates a
fresh database; imports hosters, reports and a hash list and adds the world's galleries as
watch sources; steps the clock through the schedule in one long-running recheck crawl
(crawling what is due at each step, attributing ASNs; between steps scanning the watch sources
that are due and delivering pending alerts, see monitor.sim.demo.reuploads); writes
demo-report.html and demo-report.json; prints the per-hoster comparison of measured and true
takedown times and the re-uploads found and alerts delivered against the world's truth
(monitor.sim.demo.printing). It fails (exit 1) when a measured median misses the truth by more than
the measurement resolution (hosters with too few notices for rates are shown, not judged:
monitor.sim.demo.compare), when a re-upload it found is not one in the world or was not
alerted to exactly the hoster serving it, or when a removal order it issued to the slowest
hosters (at day 2, 1 h and 24 h deadlines) is misclassified against the world's truth
(monitor.sim.demo.orders), or when a notice is not attributed to its right party (the world's CDN
group for items reached only through its edge, else the hoster), a CDN group is ranked as a
hoster, or an alert about a CDN-fronted URL did not go to the CDN (monitor.sim.demo.cdn), or
when a vPDQ find is not a true video re-upload of what it names. Its "Video" block shows the
reported videos' rechecks and the video re-uploads found against the truth
(monitor.sim.demo.videos).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from monitor import store
from monitor.alerts.deliver import send_pending
from monitor.attribution.cdn import import_cdns
from monitor.cli.progress import console
from monitor.core import clock
from monitor.core.config import Config
from monitor.intake.hash_list import import_hashes
from monitor.intake.hosters import import_hosters
from monitor.intake.reports import import_reports
from monitor.sim import scenario as scenarios
from monitor.sim import truth
from monitor.sim.demo.cdn import CdnTally
from monitor.sim.demo.cdn import tally as cdn_tally
from monitor.sim.demo.compare import (  # noqa: F401  (re-exported: tests and callers use these)
    HosterComparison,
    compare,
    comparison_table,
    last_slot,
    measured_groups,
    resolution_at,
    truth_by_hoster,
)
from monitor.sim.demo.orders import OrderIssuer, OrderTally, issue_time, judge_orders
from monitor.sim.demo.printing import order_table, reupload_table, summary_lines
from monitor.sim.demo.reuploads import ReuploadTally, Upkeep, add_galleries, tally
from monitor.sim.demo.videos import VideoTally
from monitor.sim.demo.videos import lines as video_lines
from monitor.sim.demo.videos import tally as video_tally
from monitor.sim.dns import CymruDNS
from monitor.sim.receivers import SmtpSink, WebhookReceiver
from monitor.sim.stepped import stepped_crawl
from monitor.sim.world import World
from reports.build import build_report
from reports.render import write_report


@dataclass
class DemoResult:
    out: Path
    comparisons: list[HosterComparison] = field(default_factory=list)
    checks: int = 0
    steps: int = 0
    alerts_sent: int = 0
    seconds: float = 0.0
    watch: Upkeep | None = None  # watch scans and alert sends between steps
    reuploads: ReuploadTally = field(default_factory=ReuploadTally)
    orders: OrderTally = field(default_factory=OrderTally)
    cdn: CdnTally = field(default_factory=CdnTally)
    video: VideoTally = field(default_factory=VideoTally)

    @property
    def ok(self) -> bool:
        return (
            all(c.ok for c in self.comparisons)
            and not self.reuploads.wrong
            and not self.orders.misclassified
            and (self.cdn.cdn is None or self.cdn.ok)
            and not self.video.false
        )


def scale(scenario, *, hosters: int, reports: int, days: int, seed: int):
    """The shipped demo scenario resized: `hosters` hosters sharing `reports` items over
    `days`; a shorter run also compresses when re-uploads and reappearances happen."""
    base = list(scenario.hosters)
    chosen = []
    for i in range(hosters):
        h = base[i % len(base)]
        if i >= len(base):
            h = replace(
                h,
                name=f"{h.name} {i // len(base) + 1}",
                asn=h.asn + 100 * (i // len(base)),
                ip=f"127.0.1.{i + 1}",
                ipv6=False,
                prefix=None,
            )
        chosen.append(replace(h, items=max(1, reports // hosters + (i < reports % hosters))))
    shrink = min(1.0, days / scenario.days)

    def within(pair: tuple[float, float]) -> tuple[float, float]:
        return (pair[0] * shrink, pair[1] * shrink)

    return replace(
        scenario,
        hosters=tuple(chosen),
        days=float(days),
        seed=seed,
        report_window_days=min(scenario.report_window_days, max(days / 3, 0.5)),
        reupload_after_days=within(scenario.reupload_after_days),
        reappear_after_days=within(scenario.reappear_after_days),
    )


def demo_config(dns_address: str, smtp_port: int) -> Config:
    base = Config()
    return replace(
        base,
        crawl=replace(
            base.crawl,
            allow_networks=("127.0.0.0/8", "::1/128"),
            nameservers=(dns_address,),
            autothrottle=False,
            download_timeout=timedelta(seconds=2),
            max_download_bytes=8 * 1024 * 1024,
            hash_workers=1,
            match_process=False,
        ),  # small index, many short crawls: match inline
        asn=replace(base.asn, nameservers=(dns_address,), timeout=timedelta(seconds=1)),
        alerts=replace(base.alerts, smtp_host="127.0.0.1", smtp_port=smtp_port),
    )


_NEXT = """SELECT MIN(t) FROM (
    SELECT MIN(next_check_at) AS t FROM reports WHERE next_check_at > :now
    UNION ALL SELECT MIN(next_scan_at) FROM watch_sources WHERE next_scan_at > :now)"""


def steps_from(db, start: datetime, end: datetime):
    """Each next time anything is due (a check or a watch scan), until `end`: every check
    runs exactly at its slot."""
    current = start
    while current <= end:
        yield current
        row = db.execute(_NEXT, {"now": clock.iso(current)}).fetchone()
        if row[0] is None:
            return
        current = clock.parse(row[0])


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def db_fresh(path: Path):
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return store.connect(path)


async def run_demo(
    *,
    days: int = 30,
    hosters: int = 8,
    reports: int = 500,
    seed: int = 1,
    out: str | Path = ".",
    progress: bool = True,
) -> DemoResult:
    """Run the whole job on a simulated world; see the module docstring."""

    started = time.monotonic()
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    scn = scale(scenarios.load("default"), hosters=hosters, reports=reports, days=days, seed=seed)
    secrets = truth.webhook_secrets(scn)
    os.environ.update(secrets)  # the hosters CSV names these variables; never stored
    dns = CymruDNS()
    dns.start()
    sink = SmtpSink().start()
    receiver = WebhookReceiver(
        {truth.webhook_path(h): secrets[truth.secret_env(h)] for h in scn.hosters if h.webhook}
    )
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
        import_hosters(db, files["hosters"], allow_networks=("127.0.0.0/8",))  # the receiver
        import_reports(
            db,
            files["reports"],
            config,  # the whole planned world, up front
            not_after=scn.start + timedelta(days=days),
        )
        import_hashes(db, files["hashes"], "demo-hash-list", source="simulated hotline list")
        if "cdns" in files:  # the world's CDN: its ASN in the CDN registry, with its contact
            import_cdns(db, str(files["cdns"]))
        end = scn.start + timedelta(days=days)
        upkeep = result.watch = Upkeep(db, db_file, config)
        upkeep.sources = add_galleries(db, world, config)
        issue = OrderIssuer(db, world, config, issue_time(scn.start, days), target / "demo-world")
        result.orders = issue.tally

        with Progress(
            TextColumn("[bold]simulating"),
            BarColumn(),
            TextColumn("day {task.fields[day]:>5.1f}/{task.total:.0f}"),
            TextColumn("{task.fields[checks]} checks"),
            TextColumn("{task.fields[found]} re-upload URLs found"),
            TextColumn("{task.fields[sent]} alerts sent"),
            TimeElapsedColumn(),
            console=console,
            disable=not progress,
        ) as bar:
            task = bar.add_task("demo", total=days, day=0.0, checks=0, found=0, sent=0)

            async def on_step(when: datetime) -> None:
                world.set_now(when)
                clock.fix(when)
                result.steps += 1
                issue(when)
                await upkeep(when)
                day = (when - scn.start).total_seconds() / 86400
                bar.update(
                    task, completed=day, day=day, found=upkeep.urls_found, sent=upkeep.alerts_sent
                )

            def on_progress(done: int, _total: int, _counts: dict[str, int]) -> None:
                result.checks = done
                bar.update(task, checks=done)

            await stepped_crawl(
                db_file,
                config,
                steps_from(db, scn.start, end),
                on_step=on_step,
                on_progress=on_progress,
            )
            # what the e-mail batch window still held goes out when that window closes
            clock.fix(end + config.alerts.batch_window)
            upkeep.alerts_sent += (await send_pending(db, config)).sent
            clock.fix(end)
            world.set_now(end)
            bar.update(task, completed=days, day=float(days), sent=upkeep.alerts_sent)
        result.alerts_sent = upkeep.alerts_sent
        report = build_report(db, config, now=end)
        write_report(report, target / "demo-report.html", "html")
        write_report(report, target / "demo-report.json", "json")
        result.cdn = cdn_tally(db, world, json.loads((target / "demo-report.json").read_text()))
        last_notice = max(i.noticed_at for i in world.plan.reports() if i.noticed_at)
        result.comparisons = compare(
            measured_groups(db, config, end),
            truth_by_hoster(world.plan, end),
            config.schedule,
            follow_up=(end - last_notice).total_seconds() / 3600,
        )
        result.reuploads = tally(db, world, receiver, sink, end)
        result.video = video_tally(db, world, end)
        judge_orders(db, world, config, result.orders, end)
        db.conn.close()
    finally:
        await world.stop()
        await receiver.stop()
        sink.stop()
        dns.stop()
        clock.fix(None)
    result.seconds = time.monotonic() - started
    return result


def print_result(result: DemoResult) -> None:
    """Both tables: measured vs. true per hoster (both estimators, monitor.sim.demo.compare), then
    re-uploads and alerts per hoster and the summary lines (monitor.sim.demo.printing)."""

    console = Console()
    console.print(comparison_table(result.comparisons))
    console.print(reupload_table(result))
    console.print(order_table(result.orders))
    console.print("[bold]Video[/bold]")
    for line in video_lines(result.video):
        console.print(f"  {line}")
    for line in summary_lines(result):
        console.print(line)
