"""`crawl` and `run`: the recheck crawl (and watch scans) once, or unattended in a loop."""

from __future__ import annotations

import asyncio

import click

from monitor import store
from monitor.cli.common import State, pass_state
from monitor.cli.distributed import enqueue_command
from monitor.cli.progress import console, crawl_progress, summary_table
from monitor.runners.crawl import run_crawl, stop_on_signals
from monitor.runners.service import run_forever
from monitor.runners.watch import run_watch


@click.command()
@click.option("--limit", type=click.IntRange(min=1), help="At most this many checks.")
@click.option("--hoster", help="Only reports attributed to this hoster.")
@click.option("--report", "report_ids", type=int, multiple=True, help="Only this report id.")
@click.option("--redis", "redis_url", metavar="URL", help="Distributed mode: Redis URL.")
@click.option("--enqueue", is_flag=True, help="With --redis: push due checks to workers.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@pass_state
def crawl(state: State, limit, hoster, report_ids, redis_url, enqueue, progress) -> None:
    """Run every due check (rechecks and watch scans) with a progress bar.

    \b
    Example:
      ntd-monitor crawl --limit 500 --hoster "Example Hosting"
      ntd-monitor crawl --redis redis://127.0.0.1:6379/0 --enqueue
    """
    if redis_url or enqueue:
        enqueue_command(
            state, redis_url, enqueue, limit=limit, hoster=hoster, report_ids=tuple(report_ids)
        )
        return

    state.db().conn.close()  # check and migrate before the crawl opens its own connections

    async def go():
        stop = stop_on_signals()
        checks = await run_crawl(
            state.db_arg,
            state.config,
            limit=limit,
            hoster=hoster,
            report_ids=tuple(report_ids),
            on_progress=update,
            stop=stop,
        )
        scans = None
        if not checks.interrupted and not report_ids and not hoster:
            scans = await run_watch(state.db_arg, state.config, limit=limit, stop=stop)
        return checks, scans

    with store.exclusive(state.db_arg), crawl_progress(progress) as update:
        result, watch = asyncio.run(go())
    rows = {
        "crawl": result.crawl_id,
        "checks planned": result.planned,
        "checks recorded": result.written,
        "seconds": f"{result.seconds:.1f}",
        "checks/s": f"{result.rate:.1f}",
    }
    rows.update({f"outcome {k}": v for k, v in sorted(result.outcomes.items())})
    rows["ASN attributed"] = result.asn_resolved
    if watch is not None:
        rows.update(
            {
                "watch sources scanned": watch.sources,
                "images hashed": watch.images,
                "videos hashed": watch.videos,
                "re-uploads found": watch.new_reuploads,
            }
        )
    console.print(summary_table("Crawl" + (" (interrupted)" if result.interrupted else ""), rows))
    if result.interrupted or (watch is not None and watch.interrupted):
        raise SystemExit(1)


@click.command()
@pass_state
def run(state: State) -> None:
    """Keep going unattended: crawl what is due, send alerts, sleep until the next due time.

    Stops cleanly on SIGTERM. See README for a systemd unit and a cron line.

    \b
    Example:
      ntd-monitor --db /var/lib/ntd/ntd.db run
    """

    state.db().conn.close()

    async def go() -> int:
        return await run_forever(state.db_arg, state.config, stop_on_signals(), report=click.echo)

    with store.exclusive(state.db_arg):
        code = asyncio.run(go())
    raise SystemExit(code)
