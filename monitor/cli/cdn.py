"""CDN registry commands: `cdn import FILE` and `cdn list` (monitor.attribution.cdn).

Bad rows are listed as file:line errors and exit 2, as for `hosters import`.
"""

from __future__ import annotations

import click

from monitor.attribution.cdn import cdn_list as rows
from monitor.attribution.cdn import import_cdns
from monitor.cli.common import pass_state, print_import
from monitor.cli.listing import FORMAT_OPTION, emit


@click.group()
def cdn() -> None:
    """The CDN registry: networks that are CDN / reverse-proxy edges, never hosters.

    A check served from a CDN edge is attributed to the origin's hoster when the report's
    import names it (origin_hoster, origin_ip), else to "CDN (origin unknown)".

    \b
    Example:
      ntd-monitor cdn import cdns.csv && ntd-monitor cdn list
    """


@cdn.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only validate; write nothing.")
@pass_state
def cdn_import(state, file: str, dry_run: bool) -> None:
    """Import CDN networks (CSV: name,asn,prefix,abuse_email; an asn or a prefix per row).

    List an ASN only when it carries nothing but the CDN (Amazon CloudFront shares
    AS16509 with AWS hosting: list its prefixes instead). Existing rows are kept.

    \b
    Example:
      ntd-monitor cdn import cdns.csv
    """

    print_import(import_cdns(state.db(create=True), file, dry_run=dry_run), "CDN rows")


@cdn.command("list")
@FORMAT_OPTION
@pass_state
def cdn_list(state, fmt: str) -> None:
    """List CDNs with their networks, abuse contact and checks seen through them.

    \b
    Example:
      ntd-monitor cdn list --format json
    """

    emit(
        rows(state.db(readonly=True)),
        fmt,
        ["name", "asns", "prefixes", "abuse_email", "source", "checks"],
        title="CDNs",
        empty="no CDNs",
    )
