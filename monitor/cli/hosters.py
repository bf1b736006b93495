"""`hosters import|list|secret`: the hoster registry and webhook secrets."""

from __future__ import annotations

from dataclasses import asdict

import click

from monitor.alerts.secrets import new_webhook_secret, secret_instructions
from monitor.attribution.hosters import hoster_volumes, unmapped_asns
from monitor.cli.common import BadInput, State, pass_state, print_import
from monitor.cli.listing import FORMAT_OPTION, emit
from monitor.intake.hosters import import_hosters


@click.group()
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

    print_import(
        import_hosters(
            state.db(create=True),
            file,
            dry_run=dry_run,
            allow_networks=state.config.crawl.allow_networks,
        ),
        "hoster rows",
    )


@hosters.command("list")
@FORMAT_OPTION
@pass_state
def hosters_list(state: State, fmt: str) -> None:
    """List hosters with their networks and check volume, then the busiest unmapped ASNs.

    \b
    Example:
      ntd-monitor hosters list --format json
    """

    db = state.db(readonly=True)
    rows = [asdict(v) for v in hoster_volumes(db)]
    emit(
        rows,
        fmt,
        ["name", "country", "asns", "prefixes", "unmapped", "reports", "checks", "online_checks"],
        title="Hosters",
        empty="no hosters yet",
    )
    if fmt == "table":
        busiest = [asdict(u) for u in unmapped_asns(db)]
        if busiest:
            emit(
                busiest,
                fmt,
                ["asn", "name", "checks"],
                title="Unmapped ASNs with the most checks (curate with `hosters import`)",
            )


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

    try:
        found = new_webhook_secret(state.db(), name)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    click.echo("\n".join(secret_instructions(found)))
