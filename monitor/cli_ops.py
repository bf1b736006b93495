"""The operating commands of `ntd-monitor`: crawl, run, alerts, report, asn, browse, sim and
demo (distributed mode: monitor/cli_dist.py). Registered on the one click group of
monitor/cli.py; each stays thin.
"""

from __future__ import annotations

import click

from monitor.listing import FORMAT_OPTION


def register(cli: click.Group) -> None:
    from monitor.cli import State, pass_state

    @cli.command()
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
            from monitor.cli_dist import enqueue_command
            enqueue_command(state, redis_url, enqueue, limit=limit, hoster=hoster,
                            report_ids=tuple(report_ids))
            return
        import asyncio

        from monitor import store
        from monitor.crawl import run_crawl, stop_on_signals
        from monitor.progress import console, crawl_progress, summary_table
        state.db().conn.close()  # check and migrate before the crawl opens its own connections

        async def go():
            stop = stop_on_signals()
            checks = await run_crawl(state.db_arg, state.config, limit=limit, hoster=hoster,
                                     report_ids=tuple(report_ids), on_progress=update,
                                     stop=stop)
            scans = None
            if not checks.interrupted and not report_ids and not hoster:
                from monitor.watch_crawl import run_watch
                scans = await run_watch(state.db_arg, state.config, limit=limit, stop=stop)
            return checks, scans

        with store.exclusive(state.db_arg), crawl_progress(progress) as update:
            result, watch = asyncio.run(go())
        rows = {"crawl": result.crawl_id, "checks planned": result.planned,
                "checks recorded": result.written, "seconds": f"{result.seconds:.1f}",
                "checks/s": f"{result.rate:.1f}"}
        rows.update({f"outcome {k}": v for k, v in sorted(result.outcomes.items())})
        rows["ASN attributed"] = result.asn_resolved
        if watch is not None:
            rows.update({"watch sources scanned": watch.sources, "images hashed": watch.images,
                         "re-uploads found": watch.new_reuploads})
        console.print(summary_table("Crawl" + (" (interrupted)" if result.interrupted else ""),
                                    rows))
        if result.interrupted or (watch is not None and watch.interrupted):
            raise SystemExit(1)

    @cli.command()
    @pass_state
    def run(state: State) -> None:
        """Keep going unattended: crawl what is due, send alerts, sleep until the next due time.

        Stops cleanly on SIGTERM. See README for a systemd unit and a cron line.

        \b
        Example:
          ntd-monitor --db /var/lib/ntd/ntd.db run
        """
        import asyncio

        from monitor import store
        from monitor.crawl import stop_on_signals
        from monitor.service import run_forever
        state.db().conn.close()

        async def go() -> int:
            return await run_forever(state.db_arg, state.config, stop_on_signals(),
                                     report=click.echo)
        with store.exclusive(state.db_arg):
            code = asyncio.run(go())
        raise SystemExit(code)

    @cli.group()
    def alerts() -> None:
        """The alert outbox: deliver re-upload alerts to hosters and show deliveries.

        \b
        Example:
          ntd-monitor alerts send --dry-run
        """

    @alerts.command("send")
    @click.option("--dry-run", is_flag=True, help="Render the messages without sending.")
    @pass_state
    def alerts_send(state: State, dry_run: bool) -> None:
        """Deliver pending alerts (webhook, email). Exit code 1 when an alert failed.

        \b
        Example:
          ntd-monitor alerts send
        """
        from monitor.alerts import send_pending_sync, send_summary
        stats = send_pending_sync(state.db(), state.config, dry_run=dry_run)
        click.echo(send_summary(stats))
        if stats.failed and not dry_run:
            raise SystemExit(1)

    @alerts.command("list")
    @FORMAT_OPTION
    @pass_state
    def alerts_list(state: State, fmt: str) -> None:
        """Show every alert and its delivery state.

        \b
        Example:
          ntd-monitor alerts list --format json
        """
        from monitor.alerts import COLUMNS, alert_rows, table_rows
        from monitor.listing import emit
        rows = alert_rows(state.db(readonly=True))
        emit(rows if fmt == "json" else table_rows(rows), fmt, COLUMNS, title="Alerts",
             empty="no alerts")

    @cli.command()
    @click.option("--format", "fmt", type=click.Choice(["html", "json", "csv", "md"]),
                  default="html", show_default=True)
    @click.option("--out", type=click.Path(dir_okay=False), help="Output file [default: stdout].")
    @click.option("--since", metavar="ISO8601", help="Only notices at or after this time.")
    @click.option("--until", metavar="ISO8601", help="Only notices before this time.")
    @click.option("--group-by", type=click.Choice(["hoster", "asn", "country", "month",
                                                   "order"]),
                  default="hoster", show_default=True,
                  help="order: one row per removal order (its statistics per hoster).")
    @click.option("--hoster", "hosters", multiple=True, help="Only this hoster (repeatable).")
    @click.option("--deadline", "deadlines", type=float, multiple=True,
                  help="An extra deadline in hours (repeatable).")
    @click.option("--show-urls", is_flag=True, help="Show full URLs (internal use only).")
    @pass_state
    def report(state: State, fmt, out, since, until, group_by, hosters, deadlines,
               show_urls) -> None:
        """Write the per-hoster availability report (Kaplan-Meier, censoring-aware).

        --since/--until select notices by noticed_at. JSON and CSV never contain URLs; HTML and
        Markdown show only host and a short hash unless --show-urls (internal use). Removal
        orders (import orders) get a section: compliance with each deadline, per group.

        \b
        Example:
          ntd-monitor report --format html --out report.html --since 2026-01-01T00:00:00Z
          ntd-monitor report --format csv --group-by order --out orders.csv
        """
        from monitor import clock
        from monitor.cli import BadInput
        from reports import build_report, render, write_report
        try:
            built = build_report(state.db(readonly=True), state.config, since=since,
                                 until=until, group_by=group_by, hosters=hosters or None,
                                 extra_deadlines=deadlines, now=clock.now())
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        if out:
            path = write_report(built, out, fmt, show_urls=show_urls)
            click.echo(f"wrote {path}")
        else:
            click.echo(render(built, fmt, show_urls=show_urls), nl=False)

    @cli.group()
    def asn() -> None:
        """ASN attribution through Team Cymru's DNS interface.

        \b
        Example:
          ntd-monitor asn resolve
        """

    @asn.command("resolve")
    @click.option("--limit", type=click.IntRange(min=1), help="At most this many checks.")
    @pass_state
    def asn_resolve(state: State, limit) -> None:
        """Fill in ASN, prefix and hoster for checks that lack them.

        \b
        Example:
          ntd-monitor asn resolve
        """
        from monitor import asn as asn_mod
        from monitor import clock, summary
        db = state.db()
        stats = asn_mod.resolve_pending_sync(db, state.config, limit=limit)
        if stats.report_ids:
            summary.refresh(db, stats.report_ids, state.config.takedown,
                            state.config.schedule, now=clock.now())
        click.echo(f"{stats.checks} checks without ASN: {stats.resolved} attributed, "
                   f"{stats.not_announced} not announced, {stats.unresolved} left for later "
                   f"({stats.queries} DNS queries)")

    @cli.command()
    @click.option("--port", type=int, help="Port for Datasette.")
    @pass_state
    def browse(state: State, port) -> None:
        """Open the database in Datasette with canned queries (optional extra: browse).

        Canned queries: due checks, still online by hoster, unmapped ASNs, failed alerts.

        \b
        Example:
          ntd-monitor browse --port 8001
        """
        from monitor.cli import NotAvailable
        from reports.browse import BrowseUnavailable
        from reports.browse import browse as run_browse
        state.db(readonly=True).conn.close()   # ours, readable: a clear error otherwise
        try:
            raise SystemExit(run_browse(state.db_path, port=port))
        except BrowseUnavailable as exc:
            raise NotAvailable(str(exc)) from None

    @cli.group()
    def sim() -> None:
        """The simulated hoster world (loopback only), for tests, demos and benchmarks.

        \b
        Example:
          ntd-monitor sim serve --scenario monitor/sim/scenarios/tiny.toml
        """

    @sim.command("serve")
    @click.option("--scenario", required=True, help="Scenario file or shipped name.")
    @click.option("--truth", type=click.Path(file_okay=False),
                  help="Directory for truth.json and the import files "
                       "(reports, hosters, hashes, cdns).")
    def sim_serve(scenario, truth) -> None:
        """Run the simulated hoster world, its DNS and receivers until Ctrl-C.

        Everything binds to loopback only. A shipped scenario can be named (tiny, default,
        bench) instead of a path.

        \b
        Example:
          ntd-monitor sim serve --scenario monitor/sim/scenarios/tiny.toml
        """
        from monitor.sim.serve import serve
        serve(scenario, truth_out=truth)

    @cli.command()
    @click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
    @click.option("--hosters", "n_hosters", type=click.IntRange(1, 60), default=8,
                  show_default=True)
    @click.option("--reports", "n_reports", type=click.IntRange(1, 100000), default=500,
                  show_default=True)
    @click.option("--seed", type=int, default=1, show_default=True)
    @click.option("--out", type=click.Path(file_okay=False), default=".", show_default=True)
    def demo(days, n_hosters, n_reports, seed, out) -> None:
        """Simulate a hoster world on loopback, run the whole job over simulated days, report.

        Writes demo-report.html and demo-report.json in --out, prints measured against true
        takedown times per hoster, and exits 1 when they differ beyond the measurement
        resolution.

        \b
        Example:
          ntd-monitor demo --days 30 --hosters 8 --reports 500
        """
        import asyncio

        from monitor.demo import print_result, run_demo
        result = asyncio.run(run_demo(days=days, hosters=n_hosters, reports=n_reports,
                                      seed=seed, out=out))
        print_result(result)
        if not result.ok:
            raise SystemExit(1)
