"""The `ntd-monitor` command line: one click group, each command a thin shell over the core.

Domain errors (bad input, bad config, a missing, damaged, read-only or foreign database)
become one clear line on stderr and exit code 2; runtime failures exit 1; never a traceback for
either. `Group.invoke` is the one place where they are mapped, SQLite's own errors included.
Only `init` and the import commands create a database; every command runs SQLite's
`quick_check` on the database when it first opens it (about 1 s per 100k reports).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

import click

from monitor.cli.common import BadInput, Group, State, pass_state
from monitor.core import clock
from monitor.store.schema import version
from monitor.store.summary import backfill_first_takedown

# Each command group's module, loaded when the command is named (or listed by --help): a command
# imports only what it needs at its module's top, and `ntd-monitor status` never loads Scrapy.
COMMANDS = {
    "import": "monitor.cli.imports:import_group",
    "hosters": "monitor.cli.hosters:hosters",
    "schedule": "monitor.cli.views:schedule",
    "status": "monitor.cli.views:status",
    "watch": "monitor.cli.watch:watch",
    "crawl": "monitor.cli.crawl:crawl",
    "run": "monitor.cli.crawl:run",
    "alerts": "monitor.cli.alerts:alerts",
    "report": "monitor.cli.report:report",
    "browse": "monitor.cli.report:browse",
    "asn": "monitor.cli.asn:asn",
    "cdn": "monitor.cli.cdn:cdn",
    "worker": "monitor.cli.distributed:worker",
    "ingest": "monitor.cli.distributed:ingest",
    "evidence": "monitor.cli.evidence:evidence_group",
}


class Commands(Group):
    """The root group: ours (COMMANDS, plus `init` defined here) and those other packages
    contribute through the `ntd_monitor.commands` entry point group (the simulation's `sim` and
    `demo`), each loaded when named, so the production command line never imports monitor.sim."""

    def _contributed(self) -> dict:
        return {ep.name: ep for ep in entry_points(group="ntd_monitor.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx)) | set(COMMANDS) | set(self._contributed())
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        found = super().get_command(ctx, name)
        if found is None and name in COMMANDS:
            module, _, attr = COMMANDS[name].partition(":")
            found = getattr(import_module(module), attr)
        elif found is None and name in (contributed := self._contributed()):
            found = contributed[name].load()
        return found


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="NTD_DB",
    metavar="PATH",
    help="SQLite database [default: ntd-monitor.db, env NTD_DB].",
)
@click.option(
    "--config",
    "config_path",
    envvar="NTD_CONFIG",
    metavar="PATH",
    help="TOML config [default: ntd-monitor.toml if present, env NTD_CONFIG].",
)
@click.option(
    "--now",
    metavar="ISO8601",
    help="Fix the clock (simulations and the demo only), e.g. 2026-01-01T00:00:00Z.",
)
@click.version_option(package_name="ntd-monitor")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config_path: str | None, now: str | None) -> None:
    """Measure whether reported abuse material stays down, per hoster.

    \b
    Example:
      ntd-monitor init
      ntd-monitor import reports reports.csv
      ntd-monitor crawl && ntd-monitor report --format html --out report.html
    """
    if now:
        try:
            clock.fix(clock.parse(now))
        except clock.TimeFormatError as exc:
            raise BadInput(f"--now: {exc}") from None
    ctx.obj = State(db, config_path)
    _ = ctx.obj.config  # read it now: a bad config file is an error for every command


@cli.command()
@pass_state
def init(state: State) -> None:
    """Create the database, or migrate it to this version's schema.

    \b
    Example:
      ntd-monitor --db hotline.db init
    """
    db = state.db(create=True)

    backfill_first_takedown(db, state.config.takedown)  # rows a migration could not replay
    click.echo(f"{state.db_path}: schema version {version(db)}")


def main() -> None:
    cli(prog_name="ntd-monitor")
