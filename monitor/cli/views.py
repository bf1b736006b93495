"""`schedule` and `status`: read-only views of what is due and where each report stands."""

from __future__ import annotations

import click

from monitor.cli.common import State, pass_state
from monitor.cli.listing import FORMAT_OPTION, emit
from monitor.core import clock
from monitor.core.timeline import State as ReportState
from monitor.store.queries import schedule_rows, status_rows


@click.command()
@FORMAT_OPTION
@pass_state
def schedule(state: State, fmt: str) -> None:
    """Show what is due: checks per hoster due now and in the next 24 h, next due times.

    \b
    Example:
      ntd-monitor schedule --format json
    """

    rows = schedule_rows(state.db(readonly=True))
    emit(
        rows,
        fmt,
        ["hoster", "due_now", "due_24h", "next_due_at", "scheduled"],
        title=f"Schedule at {clock.now_iso()} (UTC)",
        empty="nothing scheduled",
    )


@click.command()
@FORMAT_OPTION
@click.option(
    "--state",
    "state_filter",
    type=click.Choice([s.value for s in ReportState]),
    help="Only reports in this state.",
)
@click.option("--hoster", help="Only reports attributed to this hoster.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
@pass_state
def status(
    state: State, fmt: str, state_filter: str | None, hoster: str | None, limit: int | None
) -> None:
    """Current state per report (and tracked re-upload): online, down or unconfirmed.

    \b
    Example:
      ntd-monitor status --state online --format json
    """

    rows = status_rows(state.db(readonly=True), state=state_filter, hoster=hoster, limit=limit)
    emit(
        rows,
        fmt,
        [
            "id",
            "kind",
            "state",
            "url",
            "reference",
            "last_outcome",
            "last_checked_at",
            "takedown_at",
            "reappearances",
            "hoster",
        ],
        title="Status (times UTC)",
        empty="no reports yet",
    )
