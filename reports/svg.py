"""Inline SVG charts for the HTML report (no libraries, no external references).

Kaplan-Meier step curves, within-deadline bars with confidence whiskers, and a monthly trend.
Each function returns SVG markup (a `markupsafe.Markup`) with escaped labels.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from reports.model import Curve, GroupStats, deadline_key

PALETTE = ("#222222", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D31")
NICE_HOURS = (24, 48, 72, 96, 168, 336, 720)
FONT = 'font-family="inherit" font-size="11"'


def _svg(width: int, height: int, body: list[str], title: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT} {extra}>{escape(text)}</text>'
    )


def horizon(deadlines: Sequence[float]) -> float:
    want = 2 * max(deadlines, default=24)
    return float(next((h for h in NICE_HOURS if h >= want), NICE_HOURS[-1]))


def km_chart(
    curves: Sequence[Curve], deadlines: Sequence[float], *, width: int = 760, height: int = 320
) -> Markup:
    left, right, top, bottom = 48, 170, 14, 34
    pw, ph = width - left - right, height - top - bottom
    xmax = horizon(deadlines)

    def x(h: float) -> float:
        return left + pw * min(h, xmax) / xmax

    def y(s: float) -> float:
        return top + ph * (1 - s)

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>']
    for s in (0, 0.25, 0.5, 0.75, 1):
        body.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y(s):.1f}" y2="{y(s):.1f}" stroke="#eee"/>'
        )
        body.append(_text(left - 6, y(s) + 4, f"{s:.0%}", "end"))
    step = {24: 4, 48: 6, 72: 12, 96: 12, 168: 24, 336: 48}.get(int(xmax), 120)
    for tick in range(0, int(xmax) + 1, step):
        body.append(_text(x(tick), top + ph + 14, f"{tick} h", "middle"))
    for d in deadlines:
        if d <= xmax:
            body.append(
                f'<line x1="{x(d):.1f}" x2="{x(d):.1f}" y1="{top}" y2="{top + ph}" '
                'stroke="#999" stroke-dasharray="4 3"/>'
            )
            body.append(_text(x(d) + 2, top + 10, f"{deadline_key(d)} h", extra='fill="#666"'))
    for i, c in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(0.0, 1.0)]
        band_hi: list[tuple[float, float]] = []
        band_lo: list[tuple[float, float]] = []
        for h, s, lo, hi in zip(c.hours, c.surviving, c.lower, c.upper, strict=True):
            if h > xmax:
                break
            pts += [(h, pts[-1][1]), (h, s)]
            band_hi += [(h, band_hi[-1][1] if band_hi else 1.0), (h, hi)]
            band_lo += [(h, band_lo[-1][1] if band_lo else 1.0), (h, lo)]
        pts.append((xmax, pts[-1][1]))
        path = " ".join(f"{x(h):.1f},{y(s):.1f}" for h, s in pts)
        if i == 0 and band_hi:
            poly = band_hi + [(xmax, band_hi[-1][1]), (xmax, band_lo[-1][1])] + band_lo[::-1]
            body.append(
                '<polygon fill="#222" fill-opacity="0.08" points="'
                + " ".join(f"{x(h):.1f},{y(s):.1f}" for h, s in poly)
                + '"/>'
            )
        weight = 2.5 if i == 0 else 1.6
        body.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="{weight}" points="{path}"/>'
        )
        ly = top + 8 + 16 * i
        body.append(
            f'<line x1="{left + pw + 10}" x2="{left + pw + 28}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
        body.append(_text(left + pw + 32, ly + 4, c.label[:24]))
    body.append(_text(left + pw / 2, height - 4, "hours since notice", "middle"))
    body.append(
        _text(
            12,
            top + ph / 2,
            "still online",
            "middle",
            f'transform="rotate(-90 12 {top + ph / 2:.1f})"',
        )
    )
    return _svg(width, height, body, "Share of notices still online over time (Kaplan-Meier)")


def deadline_bars(
    groups: Sequence[GroupStats], deadlines: Sequence[float], *, width: int = 760, limit: int = 12
) -> Markup:
    shown = [g for g in groups if not g.too_few_to_rank][:limit]
    left, right, bar, gap = 170, 30, 9, 10
    block = bar * len(deadlines) + gap
    top = 26
    height = top + block * len(shown) + 28
    pw = width - left - right
    body = []
    for i, d in enumerate(deadlines):
        colour = PALETTE[(i + 1) % len(PALETTE)]
        lx = left + i * 90
        body.append(f'<rect x="{lx}" y="6" width="10" height="10" fill="{colour}"/>')
        body.append(_text(lx + 14, 15, f"within {deadline_key(d)} h"))
    for tick in (0, 0.25, 0.5, 0.75, 1):
        tx = left + pw * tick
        body.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{height - 24}" stroke="#eee"/>'
        )
        body.append(_text(tx, height - 10, f"{tick:.0%}", "middle"))
    for r, g in enumerate(shown):
        y0 = top + r * block
        body.append(_text(left - 8, y0 + block / 2, g.label[:26], "end"))
        for i, d in enumerate(deadlines):
            share = g.removed_within.get(d)
            if share is None:
                continue
            yb = y0 + i * bar
            colour = PALETTE[(i + 1) % len(PALETTE)]
            body.append(
                f'<rect x="{left}" y="{yb}" width="{pw * share:.1f}" height="{bar - 2}" '
                f'fill="{colour}"><title>{escape(g.label)}: {share:.1%} within '
                f"{deadline_key(d)} h</title></rect>"
            )
            ci = g.removed_within_ci95.get(d)
            if ci and ci[0] is not None and ci[1] is not None:
                x1, x2, ym = left + pw * ci[0], left + pw * ci[1], yb + (bar - 2) / 2
                body.append(
                    f'<path d="M{x1:.1f},{ym:.1f}H{x2:.1f}M{x1:.1f},{ym - 3:.1f}'
                    f'V{ym + 3:.1f}M{x2:.1f},{ym - 3:.1f}V{ym + 3:.1f}" stroke="#000" '
                    'stroke-width="1"/>'
                )
    return _svg(width, height, body, "Share removed within each deadline, with 95% CI")


def trend_chart(
    months: Sequence[GroupStats], deadlines: Sequence[float], *, width: int = 760, height: int = 240
) -> Markup:
    left, right, top, bottom = 48, 20, 24, 30
    pw, ph = width - left - right, height - top - bottom
    count = max(len(months), 1)

    def x(i: int) -> float:
        return left + (pw * (i + 0.5) / count)

    def y(s: float) -> float:
        return top + ph * (1 - s)

    body = []
    for s in (0, 0.5, 1):
        body.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y(s):.1f}" y2="{y(s):.1f}" stroke="#eee"/>'
        )
        body.append(_text(left - 6, y(s) + 4, f"{s:.0%}", "end"))
    for i, m in enumerate(months):
        body.append(_text(x(i), height - 10, str(m.label), "middle"))
    for j, d in enumerate(deadlines):
        colour = PALETTE[(j + 1) % len(PALETTE)]
        pts = [
            (x(i), y(v)) for i, m in enumerate(months) if (v := m.removed_within.get(d)) is not None
        ]
        if len(pts) > 1:
            body.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="'
                + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
                + '"/>'
            )
        body += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts]
        lx = left + j * 90
        body.append(f'<rect x="{lx}" y="4" width="10" height="10" fill="{colour}"/>')
        body.append(_text(lx + 14, 13, f"within {deadline_key(d)} h"))
    return _svg(width, height, body, "Share removed within each deadline per month of notice")
