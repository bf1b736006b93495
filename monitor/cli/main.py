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

# Each command's module and the first line of its help, so that `ntd-monitor --help` lists them
# without loading any (a command imports what it needs at its module's top: `ntd-monitor status`
# never loads Scrapy). tests/test_cli.py checks every summary against the command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "import": (
        "monitor.cli.imports:import_group",
        "Import reported URLs, hash lists or removal orders.",
    ),
    "hosters": (
        "monitor.cli.hosters:hosters",
        "The hoster registry: names, networks and abuse contacts.",
    ),
    "schedule": (
        "monitor.cli.views:schedule",
        "Show what is due: checks per hoster due now and in the next 24 h, next due times.",
    ),
    "status": (
        "monitor.cli.views:status",
        "Current state per report (and tracked re-upload): online, down or unconfirmed.",
    ),
    "watch": ("monitor.cli.watch:watch", "Pages and galleries scanned for re-uploads."),
    "crawl": (
        "monitor.cli.crawl:crawl",
        "Run every due check (rechecks and watch scans) with a progress bar.",
    ),
    "run": (
        "monitor.cli.crawl:run",
        "Keep going unattended: crawl what is due, send alerts, sleep until the next due time.",
    ),
    "alerts": (
        "monitor.cli.alerts:alerts",
        "The alert outbox: deliver re-upload alerts to hosters and show deliveries.",
    ),
    "report": (
        "monitor.cli.report:report",
        "Write the per-hoster availability report (Kaplan-Meier, censoring-aware).",
    ),
    "browse": (
        "monitor.cli.report:browse",
        "Open the database in Datasette with canned queries (optional extra: browse).",
    ),
    "asn": ("monitor.cli.asn:asn", "ASN attribution through Team Cymru's DNS interface."),
    "cdn": (
        "monitor.cli.cdn:cdn",
        "The CDN registry: networks that are CDN / reverse-proxy edges, never hosters.",
    ),
    "worker": (
        "monitor.cli.distributed:worker",
        "Distributed mode: a crawl worker taking due checks and watch scans from Redis.",
    ),
    "ingest": (
        "monitor.cli.distributed:ingest",
        "Distributed mode: the single writer, from the Redis stream into SQLite, in batches.",
    ),
    "evidence": (
        "monitor.cli.evidence:evidence_group",
        "The hash-chained observation record and signed, offline-verifiable bundles.",
    ),
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
            module, _, attr = COMMANDS[name][0].partition(":")
            found = getattr(import_module(module), attr)
        elif found is None and name in (contributed := self._contributed()):
            found = contributed[name].load()
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the summaries: listing loads no command module."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in COMMANDS:
                summary = COMMANDS[name][1]
            else:  # `init` here, and contributed commands (their modules load lightly)
                command = self.get_command(ctx, name)
                summary = command.get_short_help_str(limit) if command else ""
            rows.append((name, _shorten(summary, limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word to fit `limit` characters, as click shortens a command's help."""
    if len(text) <= limit:
        return text
    return text[: text.rfind(" ", 0, limit - 3) if " " in text[: limit - 3] else limit - 3] + "..."


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
