"""The self-contained HTML report (Jinja2 template, inline CSS, inline SVG, a little inline JS).

It makes no external request: no stylesheet, font, script or image is referenced; charts are
generated SVG. Still-online and order URLs are redacted unless `show_urls` (and never links).
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from reports import render_text as text
from reports import svg
from reports.model import Report, deadline_key
from reports.render_text import fmt_hours, fmt_share, method_lines, redact

TEMPLATES = Path(__file__).parent / "templates"


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(hours=fmt_hours, share=fmt_share, dkey=deadline_key)
    return env


def _sort_value(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def render_html(report: Report, *, show_urls: bool = False) -> str:
    template = _env().get_template("report.html.j2")
    deadlines = report.deadlines_hours
    months = [m for m in report.trend if not m.too_few_to_rank]
    return template.render(
        r=report,
        o=report.overall,
        m=report.method,
        deadlines=deadlines,
        groups=report.groups,
        show_urls=show_urls,
        km_chart=svg.km_chart(report.curves, deadlines) if report.curves else None,
        bars=svg.deadline_bars(report.groups, deadlines),
        trend=svg.trend_chart(months, deadlines) if months else None,
        months=report.trend,
        online=[
            (item, item.url if show_urls else redact(item.url)) for item in report.still_online
        ],
        alerts=text.alerted_groups(report),
        alert_median=text.alert_median,
        method=method_lines(report),
        sv=_sort_value,
        orders=[(o, o.url if show_urls else redact(o.url)) for o in report.orders],
        order_summary=text.order_summary_rows(report),
        order_heads=text.ORDER_SUMMARY_HEADS,
        order_cells=text.order_summary_cells,
        lateness=text.fmt_lateness,
        title=f"Takedown availability report per {report.group_by}",
    )
