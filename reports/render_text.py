"""Text renderers: JSON (the DESIGN.md schema), CSV (a row per group) and Markdown.

URLs never appear in JSON or CSV; Markdown's still-online list shows them redacted (host and a
short hash) unless `show_urls` is set.

Text that comes from outside (hoster and AS names, URLs) is defused: a CSV cell starting with
= + - @ TAB or CR gets a leading apostrophe so a spreadsheet shows it as text rather than
running it as a formula (OWASP "CSV injection"; numbers, negative ones included, stay numbers),
and every Markdown cell has HTML escaped and Markdown's own characters backslash-escaped.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re

from reports.model import GroupStats, OrderRow, OrderSummary, Report, deadline_key
from reports.model import redact_url as redact


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


ORDER_SUMMARY_COLUMNS = (
    "orders",
    "orders_complied",
    "orders_late",
    "orders_not_complied",
    "orders_unverifiable",
    "orders_pending",
    "orders_lateness_hours_median",
)
ORDER_COLUMNS = (
    "order_id",
    "authority",
    "hoster",
    "report_id",
    "url",
    "issued_at",
    "deadline_at",
    "state",
    "lateness_hours",
    "lateness_low_hours",
)


def csv_header(report: Report) -> list[str]:
    cols = [
        report.stats_group_by,
        "label",
        "rank",
        "asns",
        "notices",
        "taken_down",
        "still_online",
        "unresolved",
        "unchecked",
        "too_few_to_rank",
        "median_hours",
        "median_ci95_low",
        "median_ci95_high",
        "p90_hours",
    ]
    for d in report.deadlines_hours:
        k = deadline_key(d)
        cols += [
            f"removed_within_{k}h",
            f"removed_within_{k}h_ci95_low",
            f"removed_within_{k}h_ci95_high",
        ]
    return cols + [
        "resolution_hours_median",
        "reappearances",
        "reuploads",
        "reupload_notices",
        "moves",
        "moved_notices",
        "alerted",
        "alert_to_removal_hours_median",
        "oldest_online_hours",
        "alert_to_removal_median_ci95_low",
        "alert_to_removal_median_ci95_high",
        "median_hours_upper",
        *ORDER_SUMMARY_COLUMNS,
    ]


def _blank(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula, prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_row(g: dict, report: Report) -> list[object]:
    ci = g["median_ci95"] or [None, None]
    row = [
        g[report.stats_group_by],
        g["label"],
        g["rank"],
        " ".join(map(str, g["asns"])),
        g["notices"],
        g["taken_down"],
        g["still_online"],
        g["unresolved"],
        g["unchecked"],
        g["too_few_to_rank"],
        g["median_hours"],
        ci[0],
        ci[1],
        g["p90_hours"],
    ]
    for d in report.deadlines_hours:
        k = deadline_key(d)
        low, high = g["removed_within_ci95"].get(k) or [None, None]
        row += [g["removed_within"].get(k), low, high]
    alert_ci = g["alert_to_removal_median_ci95"] or [None, None]
    row += [
        g["resolution_hours_median"],
        g["reappearances"],
        g["reuploads"],
        g["reupload_notices"],
        g["moves"],
        g["moved_notices"],
        g["alerted"],
        g["alert_to_removal_hours_median"],
        g["oldest_online_hours"],
        alert_ci[0],
        alert_ci[1],
        g["median_hours_upper"],
    ]
    o = g["orders"]
    row += [
        o["orders"],
        o["complied"],
        o["late"],
        o["not_complied"],
        o["unverifiable"],
        o["pending"],
        o["lateness_hours_median"],
    ]
    return [csv_safe(_blank(v)) for v in row]


def order_csv_row(o: dict) -> list[object]:
    resolution = o["lateness_resolution_hours"] or [None, None]
    row = [
        o["order_id"],
        o["authority"],
        o["hoster"],
        o["report_id"],
        o["url"],
        o["issued_at"],
        o["deadline_at"],
        o["state"],
        o["lateness_hours"],
        resolution[0],
    ]
    return [csv_safe(_blank(v)) for v in row]


def render_csv(report: Report) -> str:
    """A row per group with its orders summed; `--group-by order`: a row per order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    data = report.to_dict()
    if report.group_by == "order":
        writer.writerow(ORDER_COLUMNS)
        writer.writerows(order_csv_row(o) for o in data["orders"])
        return buf.getvalue()
    writer.writerow(csv_header(report))
    for g in data["groups"]:
        writer.writerow(csv_row(g, report))
    return buf.getvalue()


def fmt_hours(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} h" if value < 72 else f"{value / 24:.1f} d"


def fmt_share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def fmt_ci(pair: tuple[float | None, float | None] | None) -> str:
    """`[3.0 h–9.5 h]`, an open upper bound as `–`; empty when there is no interval."""
    if not pair or (pair[0] is None and pair[1] is None):
        return ""
    return f"[{fmt_hours(pair[0])}–{fmt_hours(pair[1])}]"


def alerted_groups(report: Report) -> list[GroupStats]:
    """The groups with alerts sent by the cut-off, then the overall row (if any were sent)."""
    if not report.overall.alerted:
        return []
    return [g for g in report.groups if g.alerted] + [report.overall]


def alert_median(g: GroupStats) -> str:
    """The median time from alert to removal with its CI, as the alerts tables print it."""
    if g.too_few_to_rank:
        return "too few to rank"
    ci = fmt_ci(g.alert_to_removal_median_ci95)
    return fmt_hours(g.alert_to_removal_hours_median) + (f" {ci}" if ci else "")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_text(value: object) -> str:
    """Text safe in a Markdown table cell or list item: one line, HTML escaped (& < >), and
    Markdown's characters (\\ ` * _ [ ] | ~) backslash-escaped."""
    one_line = " ".join(str(value).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))


def _md_row(g: GroupStats, report: Report) -> str:
    cells = [g.rank or "", g.label, g.notices, g.taken_down, g.still_online, g.unresolved]
    if g.too_few_to_rank:
        cells += ["too few to rank"] + [""] * (len(report.deadlines_hours) + 1)
    else:
        cells += [fmt_hours(g.median_hours)]
        cells += [fmt_share(g.removed_within.get(d)) for d in report.deadlines_hours]
        cells += [fmt_hours(g.p90_hours)]
    cells += [fmt_hours(g.oldest_online_hours)]
    return "| " + " | ".join(md_text(c) for c in cells) + " |"


ORDERS_METHOD = (
    "- Removal orders: complied = a down observation at or before the deadline, confirmed "
    "by the takedown rule, and not seen online since; late = seen online at or after the "
    "deadline and later taken down (lateness = takedown - deadline, the true removal lies "
    "after the last online check); not complied = seen online after the deadline and not "
    "taken down since; unverifiable = only blocked or unreachable around the deadline (or "
    "first seen down after it with no check between); pending = no check at or after the "
    "deadline yet, or down but not yet confirmed."
)


def fmt_lateness(row: OrderRow) -> str:
    """`2.0 h (0.5 h–2.0 h)`: the takedown after the deadline with its resolution."""
    if row.lateness_hours is None:
        return ""
    return (
        f"{fmt_hours(row.lateness_hours)} ({fmt_hours(row.lateness_low_hours)}–"
        f"{fmt_hours(row.lateness_hours)})"
    )


def order_summary_rows(report: Report) -> list[tuple[str, OrderSummary]]:
    """(label, summary) per group with orders, then the overall line."""
    if not report.orders:
        return []
    rows = [
        (g.label, report.order_summary(g.key))
        for g in report.groups
        if report.order_summary(g.key).orders
    ]
    return rows + [("all", report.orders_overall())]


ORDER_SUMMARY_HEADS = (
    "orders",
    "complied",
    "late",
    "not complied",
    "unverifiable",
    "pending",
    "median lateness",
)


def order_summary_cells(s: OrderSummary) -> list[object]:
    return [
        s.orders,
        s.complied,
        s.late,
        s.not_complied,
        s.unverifiable,
        s.pending,
        fmt_hours(s.lateness_hours_median),
    ]


def _md_orders(report: Report, show_urls: bool) -> list[str]:
    if not report.orders:
        return []
    by = report.stats_group_by
    heads = [by, *ORDER_SUMMARY_HEADS]
    lines = [
        "",
        "## Removal orders",
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "---|" * len(heads),
    ]
    lines += [
        "| " + " | ".join(md_text(c) for c in [label, *order_summary_cells(s)]) + " |"
        for label, s in order_summary_rows(report)
    ]
    heads = [
        "order",
        "authority",
        "hoster",
        "item",
        "issued",
        "deadline",
        "state",
        "lateness (resolution)",
    ]
    lines += ["", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in report.orders:
        cells = [
            row.order_id,
            row.authority or "",
            row.hoster,
            row.url if show_urls else redact(row.url),
            row.issued_at,
            row.deadline_at,
            row.state.replace("_", " "),
            fmt_lateness(row),
        ]
        lines.append("| " + " | ".join(md_text(c) for c in cells) + " |")
    return lines


def render_md(report: Report, *, show_urls: bool = False) -> str:
    o, m = report.overall, report.method
    window = f"{report.since or 'the start'} to {report.until or 'now'}"
    heads = [
        "#",
        report.stats_group_by,
        "notices",
        "taken down",
        "still online",
        "unresolved",
        "median",
    ] + [f"≤ {deadline_key(d)} h" for d in report.deadlines_hours]
    heads += ["p90", "oldest online"]
    lines = [
        "# Notice-and-takedown availability report",
        "",
        f"Generated {report.generated_at}; notices from {window}; observations up to {m.cutoff}.",
        "",
        f"**{o.notices}** notices: **{o.taken_down}** taken down, **{o.still_online}** still "
        f"online, **{o.unresolved}** unresolved. Median time to takedown "
        f"**{fmt_hours(o.median_hours)}**"
        + "".join(
            f"; {fmt_share(o.removed_within.get(d))} within {deadline_key(d)} h"
            for d in report.deadlines_hours
        )
        + ".",
        "",
        f"## Per {report.stats_group_by}",
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "---|" * len(heads),
    ]
    lines += [_md_row(g, report) for g in report.groups]
    lines += _md_orders(report, show_urls)
    if report.still_online:
        lines += ["", "## Still online (oldest first)", ""]
        for item in report.still_online:
            where = item.url if show_urls else redact(item.url)
            lines.append(
                f"- {md_text(where)} ({md_text(item.group)}), noticed "
                f"{item.noticed_at}, online {fmt_hours(item.online_hours)}"
            )
    alerts = alerted_groups(report)
    if alerts:
        lines += [
            "",
            "## Alerts to hosters",
            "",
            f"| {report.stats_group_by} | alerted | median alert to removal [95% CI] |",
            "|---|---|---|",
        ]
        lines += [
            f"| {md_text(g.label)} | {g.alerted} | {md_text(alert_median(g))} |" for g in alerts
        ]
    lines += ["", "## Method", "", *method_lines(report), ""]
    return "\n".join(lines)


def method_lines(report: Report) -> list[str]:
    m = report.method
    orders = [ORDERS_METHOD] if report.orders else []
    return [
        "- The clock starts when the hoster was notified (noticed_at).",
        f"- A takedown is the first down observation (removed or DNS gone) confirmed by "
        f"{m.confirm_checks} consecutive down checks spanning at least "
        f"{m.confirm_span_hours:g} h; unreachable alone counts only after "
        f"{m.unreachable_after_hours:g} h of failures. Blocked (401/403/429) never counts.",
        "- The true removal lies between the last online and the first down check; the "
        "median of that gap is shown as the measurement resolution.",
        f"- Items not (yet) confirmed removed are right-censored at their last check (no later "
        f"than {m.cutoff}): they count as not removed up to then, never as removed and never "
        "dropped.",
        f"- Times and shares: {m.estimator_text}. 95% confidence intervals: {m.ci95_text}. "
        "The earlier figure, "
        "the Kaplan-Meier median of the first down observations (an upper bound), stays in "
        "the JSON and CSV as median_hours_upper for comparison over time.",
        f"- Notices never checked are counted as unresolved and do not enter the estimates. "
        f"Groups with fewer than {m.min_notices_for_rates} notices show counts only.",
        "- Time from alert to removal runs from the first alert sent about a notice to its "
        "confirmed takedown, Kaplan-Meier in the same way: a notice alerted and still online is "
        "censored at its last check, never dropped; one already removed when the alert went "
        "out (and not back online) is left out.",
    ] + orders
