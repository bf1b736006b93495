"""`asn resolve`: ASN attribution of checks that lack it."""

from __future__ import annotations

import click

from monitor.attribution import asn as asn_mod
from monitor.cli.common import State, pass_state
from monitor.core import clock
from monitor.store import summary


@click.group()
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

    db = state.db()
    stats = asn_mod.resolve_pending_sync(db, state.config, limit=limit)
    if stats.report_ids:
        summary.refresh(
            db, stats.report_ids, state.config.takedown, state.config.schedule, now=clock.now()
        )
    click.echo(
        f"{stats.checks} checks without ASN: {stats.resolved} attributed, "
        f"{stats.not_announced} not announced, {stats.unresolved} left for later "
        f"({stats.queries} DNS queries)"
    )
