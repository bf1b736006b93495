"""What the demo prints: measured vs. true takedown times per hoster, re-uploads found and
alerts delivered per hoster, removal-order compliance per hoster, and CDN-fronted notices
(attributed to the CDN group, alerts to the CDN), each against the world's truth (rich tables
and lines on stdout)."""

from __future__ import annotations

import statistics
from typing import Any

from rich.console import Console
from rich.table import Table

from monitor.sim.demo.cdn import lines as cdn_lines


def _hours(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _table(title: str, columns: tuple[str, ...]) -> Any:

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column == "hoster" else "right")
    return table


def comparison_table(result) -> Any:
    """Measured vs. true median and within-24h share per hoster, with the error."""
    table = _table(
        "Measured vs. true takedown times per hoster (hours from notice)",
        (
            "hoster",
            "notices",
            "true median",
            "measured",
            "error",
            "resolution",
            "true <=24h",
            "measured <=24h",
            "ok",
        ),
    )
    for c in result.comparisons:
        error = (
            f"{c.measured_median - c.true_median:+.1f}"
            if c.measured_median is not None and c.true_median is not None
            else "-"
        )
        table.add_row(
            c.hoster,
            str(c.notices),
            _hours(c.true_median),
            _hours(c.measured_median),
            error,
            f"{c.resolution:.1f}",
            _share(c.true_within_24h),
            _share(c.measured_within_24h),
            "yes" if c.ok else "[red]NO[/red]",
        )
    return table


def reupload_table(result) -> Any:
    """Per hoster: re-uploads the world served, found, false finds; alerts delivered per
    channel (both kinds) and what the receivers got."""
    table = _table(
        "Re-uploads found and alerts delivered per hoster",
        (
            "hoster",
            "re-uploads",
            "found",
            "other URL",
            "false",
            "webhook alerts",
            "email alerts",
            "POSTs received",
            "e-mails received",
        ),
    )
    for h in result.reuploads.hosters:
        hooks = sum(n for (_kind, channel), n in h.alerts.items() if channel == "webhook")
        mails = sum(n for (_kind, channel), n in h.alerts.items() if channel == "email")
        table.add_row(
            h.hoster,
            str(h.served),
            str(h.found),
            str(h.aliases),
            f"[red]{h.false}[/red]" if h.false else "0",
            str(hooks),
            str(mails),
            str(h.webhooks_received),
            str(h.emails_received),
        )
    return table


def order_table(tally) -> Any:
    """Per hoster ordered: orders, each compliance state as measured (true in brackets), the
    median lateness measured (true), the orders the checks could not observe, misclassified."""

    table = _table(
        "Removal orders per hoster: compliance measured (true)",
        (
            "hoster",
            "orders",
            "complied",
            "late",
            "not complied",
            "unverifiable",
            "pending",
            "median lateness h",
            "not observable",
            "misclassified",
        ),
    )

    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.1f}" if values else "-"

    for hoster in tally.hosters:
        mine = [o for o in tally.orders if o.item.hoster == hoster]
        measured = [o.measured.state.value for o in mine if o.measured is not None]
        truth = [o.truth for o in mine]

        def both(state: str, measured=measured, truth=truth) -> str:
            return f"{measured.count(state)} ({truth.count(state)})"

        late = [
            o.measured.lateness_hours
            for o in mine
            if o.measured is not None and o.measured.lateness_hours is not None
        ]
        true_late = [o.true_lateness for o in mine if o.true_lateness is not None]
        wrong = sum(o.verdict == "WRONG" for o in mine)
        table.add_row(
            hoster,
            str(len(mine)),
            both("complied"),
            both("late"),
            both("not_complied"),
            str(measured.count("unverifiable")),
            str(measured.count("pending")),
            f"{median(late)} ({median(true_late)})",
            str(sum(o.verdict == "not observable" for o in mine)),
            f"[red]{wrong}[/red]" if wrong else "0",
        )
    return table


def order_lines(tally) -> list[str]:
    if tally.issued_at is None:
        return ["removal orders: none issued (the run ended before the issue time)"]
    blocked = sum(o.verdict.startswith("unverifiable") for o in tally.orders)
    unseen = sum(o.verdict == "not observable" for o in tally.orders)
    lines = [
        f"removal orders: {len(tally.orders)} issued at {tally.issued_at:%Y-%m-%d %H:%M} "
        f"to {', '.join(tally.hosters)} (deadlines 1 h and 24 h); "
        f"{len(tally.misclassified)} misclassified against the world's truth, "
        f"{blocked} unverifiable where the world blocked or failed at the deadline, "
        f"{unseen} changed between checks (not observable)"
    ]
    for o in tally.misclassified:
        lines.append(
            f"[red]misclassified:[/red] {o.order_id} ({o.item.hoster}, {o.item.id}): "
            f"measured {o.measured.state.value if o.measured else '-'}, true "
            f"{o.truth}; {o.measured.reason if o.measured else ''}"
        )
    return lines


def summary_lines(result) -> list[str]:
    r = result.reuploads
    w = result.watch
    lines = []
    share = f" ({r.true_found / r.served:.0%})" if r.served else ""
    missed = ", ".join(f"{n} {kind}" for kind, n in sorted(r.missed.items()))
    lines.append(
        f"re-uploads: {r.served} put online by the world, {r.true_found} found{share}"
        + (f" (missed: {missed})" if missed else "")
        + f"; {r.aliases} reported files found at another URL, {r.false_found} false"
    )
    if w is not None:
        lines.append(
            f"watch: {w.sources} galleries, {w.scans} scans ({w.sources_scanned} "
            f"page scans), {w.images} images hashed in {w.watch_seconds:.0f} s"
        )
    for f in r.wrong:
        lines.append(
            f"[red]wrong:[/red] {f.url} ({f.kind}, served by {f.true_hoster}) "
            f"alerted to {', '.join(f.alerted) or 'nobody'}"
        )
    pending = sum(h.undelivered for h in r.hosters)
    lines.append(
        f"alerts delivered: {r.alerts('reupload')} re-upload, {r.alerts('reappearance')} "
        f"reappearance ({r.alerts(channel='webhook')} by signed webhook, "
        f"{r.alerts(channel='email')} by e-mail); {pending} not delivered"
    )
    lines.append(receivers_line(r))
    lines += cdn_lines(result.cdn)
    lines += order_lines(result.orders)
    lines.append(
        f"{result.checks} checks in {result.steps} clock steps, "
        f"{result.seconds:.0f} s; report: {result.out / 'demo-report.html'}"
    )
    return lines


def receivers_line(r) -> str:
    """The hosters' tools' view: "webhooks verified by standardwebhooks: N/M sent; XARF valid:
    N/M sent" (M: POSTs the receiver got, XARF attachments the SMTP sink got)."""
    hooks = (
        f"{r.hooks_by_library}/{r.hooks_posted} sent"
        if r.library
        else f"not checked (standardwebhooks not installed; {r.hooks_posted} sent)"
    )
    xarf = (
        f"{r.xarf_valid}/{r.xarf_sent} sent"
        if r.xarf_valid is not None
        else f"not checked (xarf not installed; {r.xarf_sent} sent)"
        if r.xarf_sent
        else "0/0 sent"
    )
    return f"webhooks verified by standardwebhooks: {hooks}; XARF valid: {xarf}"


def print_tables(result) -> None:

    console = Console()
    console.print(comparison_table(result))
    console.print(reupload_table(result))
    for line in summary_lines(result):
        console.print(line)
