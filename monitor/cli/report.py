"""`report` (the per-hoster availability report) and `browse` (Datasette over the database)."""

from __future__ import annotations

import click

from monitor.cli.common import BadInput, NotAvailable, State, pass_state
from monitor.core import clock
from reports.browse import BrowseUnavailable
from reports.browse import browse as run_browse
from reports.build import build_report
from reports.render import render, write_report


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json", "csv", "md"]),
    default="html",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False), help="Output file [default: stdout].")
@click.option("--since", metavar="ISO8601", help="Only notices at or after this time.")
@click.option("--until", metavar="ISO8601", help="Only notices before this time.")
@click.option(
    "--group-by",
    type=click.Choice(["hoster", "asn", "country", "month", "order"]),
    default="hoster",
    show_default=True,
    help="order: one row per removal order (its statistics per hoster).",
)
@click.option("--hoster", "hosters", multiple=True, help="Only this hoster (repeatable).")
@click.option(
    "--deadline",
    "deadlines",
    type=float,
    multiple=True,
    help="An extra deadline in hours (repeatable).",
)
@click.option("--show-urls", is_flag=True, help="Show full URLs (internal use only).")
@pass_state
def report(state: State, fmt, out, since, until, group_by, hosters, deadlines, show_urls) -> None:
    """Write the per-hoster availability report (Kaplan-Meier, censoring-aware).

    --since/--until select notices by noticed_at. JSON and CSV never contain URLs; HTML and
    Markdown show only host and a short hash unless --show-urls (internal use). Removal
    orders (import orders) get a section: compliance with each deadline, per group.

    \b
    Example:
      ntd-monitor report --format html --out report.html --since 2026-01-01T00:00:00Z
      ntd-monitor report --format csv --group-by order --out orders.csv
    """

    try:
        built = build_report(
            state.db(readonly=True),
            state.config,
            since=since,
            until=until,
            group_by=group_by,
            hosters=hosters or None,
            extra_deadlines=deadlines,
            now=clock.now(),
        )
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if out:
        path = write_report(built, out, fmt, show_urls=show_urls)
        click.echo(f"wrote {path}")
    else:
        click.echo(render(built, fmt, show_urls=show_urls), nl=False)


@click.command()
@click.option("--port", type=int, help="Port for Datasette.")
@pass_state
def browse(state: State, port) -> None:
    """Open the database in Datasette with canned queries (optional extra: browse).

    Canned queries: due checks, still online by hoster, unmapped ASNs, failed alerts.

    \b
    Example:
      ntd-monitor browse --port 8001
    """

    state.db(readonly=True).conn.close()  # ours, readable: a clear error otherwise
    try:
        raise SystemExit(run_browse(state.db_path, port=port))
    except BrowseUnavailable as exc:
        raise NotAvailable(str(exc)) from None
