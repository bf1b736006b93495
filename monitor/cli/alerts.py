"""`alerts send` and `alerts list`: the alert outbox."""

from __future__ import annotations

import click

from monitor.alerts.deliver import send_pending_sync
from monitor.alerts.views import COLUMNS, alert_rows, send_summary, table_rows
from monitor.cli.common import State, pass_state
from monitor.cli.listing import FORMAT_OPTION, emit


@click.group()
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

    rows = alert_rows(state.db(readonly=True))
    emit(
        rows if fmt == "json" else table_rows(rows), fmt, COLUMNS, title="Alerts", empty="no alerts"
    )
