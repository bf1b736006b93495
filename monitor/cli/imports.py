"""`import reports|hashes|orders`: reported URLs, hash lists and removal orders, validated
row by row (file:line errors, exit 2 when any row was bad)."""

from __future__ import annotations

import click

from monitor.cli.common import DOMAIN_ERRORS, BadInput, State, pass_state, print_import
from monitor.intake.hash_list import import_hashes
from monitor.intake.orders import import_orders
from monitor.intake.reports import import_reports


@click.group("import")
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

    Columns: url,reference,reported_at,noticed_at,phash,pdq,sha256 (only url is required); vpdq
    for a reported video (its vPDQ signature: frame,quality,hex,timestamp lines joined by ";",
    the reference's hash file, or a python-threatexchange VPDQ signal string).
    Times need a zone (Z or +01:00); zone-less times are read as UTC and the output says so.
    Bad rows are listed as file:line: reason; good rows are loaded; exit code 2 if any was bad.

    \b
    Example:
      ntd-monitor import reports --dry-run reports.csv
      ntd-monitor import reports reports.jsonl
    """

    print_import(
        import_reports(state.db(create=True), file, state.config, dry_run=dry_run), "reports"
    )


@import_group.command("hashes")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--list", "list_name", required=True, help="Name of the hash list.")
@click.option("--source", help="Where the list comes from (free text).")
@click.option("--allowlist", is_flag=True, help="Known-benign hashes that must never match.")
@click.option("--dry-run", is_flag=True, help="Only validate; write nothing.")
@pass_state
def import_hashes_cmd(
    state: State, file: str, list_name: str, source: str | None, allowlist: bool, dry_run: bool
) -> None:
    """Import a hash list (CSV: algorithm,hash,label).

    Algorithms: phash, dhash, pdq, md5, sha1, sha256, and vpdq (a video's signature in a quoted
    cell: frame,quality,hex,timestamp lines joined by ";" or one per line, or a
    python-threatexchange VPDQ signal string).

    \b
    Example:
      ntd-monitor import hashes known.csv --list hotline-2026
      ntd-monitor import hashes stock.csv --list cms-stock --allowlist
    """

    try:
        result = import_hashes(
            state.db(create=True),
            file,
            list_name,
            source=source,
            allowlist=allowlist,
            dry_run=dry_run,
        )
    except ValueError as exc:
        if isinstance(exc, DOMAIN_ERRORS):
            raise
        raise BadInput(str(exc)) from None
    print_import(result, "hashes")


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

    print_import(import_orders(state.db(), file, state.config, dry_run=dry_run), "orders")
