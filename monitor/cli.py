"""The `ntd-monitor` command line: one click group, each command a thin shell over the core.

Domain errors (bad input, bad config, a missing, damaged, read-only or foreign database)
become one clear line on stderr and exit code 2; runtime failures exit 1; never a traceback for
either. `Group.invoke` is the one place where they are mapped, SQLite's own errors included.
Only `init` and the import commands create a database; every command runs SQLite's
`quick_check` on the database when it first opens it (about 1 s per 100k reports).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from hashes.formats import HashFormatError
from monitor import clock, store
from monitor.config import Config, ConfigError, load
from monitor.importing import ImportFileError, ImportResult
from monitor.listing import FORMAT_OPTION, emit
from monitor.urls import UrlError

DOMAIN_ERRORS = (ConfigError, store.StoreError, ImportFileError, clock.TimeFormatError,
                 UrlError, HashFormatError)


class BadInput(click.ClickException):
    exit_code = 2


class NotAvailable(click.ClickException):
    exit_code = 1


# SQLite errors that mean the file is bad (damaged, not a database, read-only): bad input
BAD_FILE_WORDS = ("malformed", "not a database", "readonly", "read-only", "unable to open")


class Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except DOMAIN_ERRORS as exc:
            raise BadInput(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
                raise          # IntegrityError, ProgrammingError ...: a bug, keep its traceback
            ctx_db = ctx.obj.db_path if isinstance(ctx.obj, State) else "the database"
            message = f"database {ctx_db}: {store.explain(exc)}"
            if any(word in str(exc).lower() for word in BAD_FILE_WORDS):
                raise BadInput(message) from None
            raise NotAvailable(message) from None


class State:
    def __init__(self, db: str | None, config: str | None) -> None:
        self.db_arg, self.config_arg = db, config
        self._config: Config | None = None
        self._verified = False

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load(self.config_arg)
        return self._config

    @property
    def db_path(self) -> Path:
        return store.db_path(self.db_arg)

    def db(self, *, readonly: bool = False, create: bool = False):
        """Open the database, its integrity checked on the first open in this process (a
        damaged file makes readers print wrong numbers and writers make it worse); only
        `create=True` (init, imports) makes a new database."""
        db = store.connect(self.db_arg, readonly=readonly, create=create,
                           verify=not self._verified)
        self._verified = True
        return db


pass_state = click.make_pass_decorator(State)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="NTD_DB", metavar="PATH",
              help="SQLite database [default: ntd-monitor.db, env NTD_DB].")
@click.option("--config", "config_path", envvar="NTD_CONFIG", metavar="PATH",
              help="TOML config [default: ntd-monitor.toml if present, env NTD_CONFIG].")
@click.option("--now", metavar="ISO8601",
              help="Fix the clock (simulations and the demo only), e.g. 2026-01-01T00:00:00Z.")
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


def _print_import(result: ImportResult, what: str) -> None:
    for error in result.errors:
        click.echo(str(error), err=True)
    if result.bad > len(result.errors):
        click.echo(f"... and {result.bad - len(result.errors)} more bad rows", err=True)
    verb = "would add" if result.dry_run else "added"
    click.echo(f"{result.file}: {result.read} rows read, {verb} {result.added} {what}, "
               f"{result.unchanged} unchanged, {result.bad} bad")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.bad:
        sys.exit(2)


@cli.command()
@pass_state
def init(state: State) -> None:
    """Create the database, or migrate it to this version's schema.

    \b
    Example:
      ntd-monitor --db hotline.db init
    """
    db = state.db(create=True)
    from monitor.schema import version
    from monitor.summary import backfill_first_takedown
    backfill_first_takedown(db, state.config.takedown)   # rows a migration could not replay
    click.echo(f"{state.db_path}: schema version {version(db)}")


@cli.group("import")
def import_group() -> None:
    """Import reported URLs, hash lists or removal orders.

    \b
    Example:
      ntd-monitor import reports reports.csv
    """


@import_group.command("reports")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only validate; write nothing.")
@pass_state
def import_reports_cmd(state: State, file: str, dry_run: bool) -> None:
    """Import reported URLs from CSV or JSON Lines.

    Columns: url,reference,reported_at,noticed_at,phash,pdq,sha256 (only url is required).
    Times need a zone (Z or +01:00); zone-less times are read as UTC and the output says so.
    Bad rows are listed as file:line: reason; good rows are loaded; exit code 2 if any was bad.

    \b
    Example:
      ntd-monitor import reports --dry-run reports.csv
      ntd-monitor import reports reports.jsonl
    """
    from monitor.import_reports import import_reports
    _print_import(import_reports(state.db(create=True), file, state.config, dry_run=dry_run),
                  "reports")


@import_group.command("hashes")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--list", "list_name", required=True, help="Name of the hash list.")
@click.option("--source", help="Where the list comes from (free text).")
@click.option("--allowlist", is_flag=True, help="Known-benign hashes that must never match.")
@click.option("--dry-run", is_flag=True, help="Only validate; write nothing.")
@pass_state
def import_hashes_cmd(state: State, file: str, list_name: str, source: str | None,
                      allowlist: bool, dry_run: bool) -> None:
    """Import a hash list (CSV: algorithm,hash,label).

    Algorithms: phash, dhash, pdq, md5, sha1, sha256.

    \b
    Example:
      ntd-monitor import hashes known.csv --list hotline-2026
      ntd-monitor import hashes stock.csv --list cms-stock --allowlist
    """
    from monitor.import_hashes import import_hashes
    try:
        result = import_hashes(state.db(create=True), file, list_name, source=source,
                               allowlist=allowlist, dry_run=dry_run)
    except ValueError as exc:
        if isinstance(exc, DOMAIN_ERRORS):
            raise
        raise BadInput(str(exc)) from None
    _print_import(result, "hashes")


@import_group.command("orders")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only validate; write nothing.")
@pass_state
def import_orders_cmd(state: State, file: str, dry_run: bool) -> None:
    """Import removal orders from CSV or JSON Lines.

    Columns: url,reference,order_id,issued_at,deadline,authority (url or reference per row;
    deadline is a duration after issued_at, e.g. 1h or 24h, or an ISO time). Each order adds
    checks at its deadline and 1 min, 10 min and 1 h after it. Exit code 2 if any row was bad.

    \b
    Example:
      ntd-monitor import orders orders.csv
    """
    from monitor.import_orders import import_orders
    _print_import(import_orders(state.db(), file, state.config, dry_run=dry_run), "orders")


@cli.group()
def hosters() -> None:
    """The hoster registry: names, networks and abuse contacts.

    \b
    Example:
      ntd-monitor hosters import hosters.csv && ntd-monitor hosters list
    """


@hosters.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only validate; write nothing.")
@pass_state
def hosters_import(state: State, file: str, dry_run: bool) -> None:
    """Import hosters (CSV: name,asn,prefix,country,abuse_email,webhook_url,webhook_secret_env,
    webhook_scheme).

    One row per network; `prefix` maps a reseller inside a larger ASN. The webhook secret is
    read from the environment variable named in webhook_secret_env, never stored.
    webhook_scheme: `standard` (Standard Webhooks, the default) or `x-signature` (the older
    scheme). A webhook URL whose host is an IP outside [crawl] allow_networks is refused.

    \b
    Example:
      ntd-monitor hosters import hosters.csv
    """
    from monitor.import_hosters import import_hosters
    _print_import(import_hosters(state.db(create=True), file, dry_run=dry_run,
                                 allow_networks=state.config.crawl.allow_networks),
                  "hoster rows")


@hosters.command("list")
@FORMAT_OPTION
@pass_state
def hosters_list(state: State, fmt: str) -> None:
    """List hosters with their networks and check volume, then the busiest unmapped ASNs.

    \b
    Example:
      ntd-monitor hosters list --format json
    """
    from dataclasses import asdict

    from monitor.hosters import hoster_volumes, unmapped_asns
    db = state.db(readonly=True)
    rows = [asdict(v) for v in hoster_volumes(db)]
    emit(rows, fmt, ["name", "country", "asns", "prefixes", "unmapped", "reports", "checks",
                     "online_checks"], title="Hosters", empty="no hosters yet")
    if fmt == "table":
        busiest = [asdict(u) for u in unmapped_asns(db)]
        if busiest:
            emit(busiest, fmt, ["asn", "name", "checks"],
                 title="Unmapped ASNs with the most checks (curate with `hosters import`)")


@hosters.command("secret")
@click.argument("name")
@pass_state
def hosters_secret(state: State, name: str) -> None:
    """Generate a Standard Webhooks secret (whsec_...) for hoster NAME and print it once.

    It is stored nowhere: put it in the environment variable the registry names for the
    hoster (webhook_secret_env) and give it to the hoster's receiver.

    \b
    Example:
      ntd-monitor hosters secret "Example Hosting"
    """
    from monitor.hosters import new_webhook_secret, secret_instructions
    try:
        found = new_webhook_secret(state.db(), name)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    click.echo("\n".join(secret_instructions(found)))


@cli.command()
@FORMAT_OPTION
@pass_state
def schedule(state: State, fmt: str) -> None:
    """Show what is due: checks per hoster due now and in the next 24 h, next due times.

    \b
    Example:
      ntd-monitor schedule --format json
    """
    from monitor.queries import schedule_rows
    rows = schedule_rows(state.db(readonly=True))
    emit(rows, fmt, ["hoster", "due_now", "due_24h", "next_due_at", "scheduled"],
         title=f"Schedule at {clock.now_iso()} (UTC)", empty="nothing scheduled")


@cli.command()
@FORMAT_OPTION
@click.option("--state", "state_filter",
              type=click.Choice(["unchecked", "online", "down", "unconfirmed"]),
              help="Only reports in this state.")
@click.option("--hoster", help="Only reports attributed to this hoster.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
@pass_state
def status(state: State, fmt: str, state_filter: str | None, hoster: str | None,
           limit: int | None) -> None:
    """Current state per report (and tracked re-upload): online, down or unconfirmed.

    \b
    Example:
      ntd-monitor status --state online --format json
    """
    from monitor.queries import status_rows
    rows = status_rows(state.db(readonly=True), state=state_filter, hoster=hoster,
                       limit=limit)
    emit(rows, fmt, ["id", "kind", "state", "url", "reference", "last_outcome",
                     "last_checked_at", "takedown_at", "reappearances", "hoster"],
         title="Status (times UTC)", empty="no reports yet")


@cli.group()
def watch() -> None:
    """Pages and galleries scanned for re-uploads.

    \b
    Example:
      ntd-monitor watch add https://board.example/gallery --depth 1 --max-pages 200
    """


@watch.command("add")
@click.argument("url")
@click.option("--depth", type=click.IntRange(0, 5), help="Link depth [default: config, 1].")
@click.option("--max-pages", type=click.IntRange(1, 100000),
              help="Page budget per scan [default: config, 200].")
@pass_state
def watch_add(state: State, url: str, depth: int | None, max_pages: int | None) -> None:
    """Add a page or gallery to scan for re-uploads (same site, bounded depth and pages).

    \b
    Example:
      ntd-monitor watch add https://board.example/gallery --depth 1 --max-pages 200
    """
    from monitor.watch_sources import add_source
    source = add_source(state.db(), url, state.config, depth=depth, max_pages=max_pages)
    click.echo(f"watching {source['url']} (depth {source['depth']}, "
               f"max {source['max_pages']} pages, next scan {source['next_scan_at']})")


from monitor import cli_cdn, cli_dist, cli_evidence, cli_ops  # noqa: E402  (crawl, report, ...)

cli_ops.register(cli)
cli_cdn.register(cli)
cli_dist.register(cli)
cli_evidence.register(cli)


def main() -> None:
    cli(prog_name="ntd-monitor")
