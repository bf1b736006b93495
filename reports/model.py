"""The report model: one `NoticeRecord` per notice in, one `Report` of `GroupStats` out.

`Report.to_dict()` is the report JSON of DESIGN.md with a stable key order (documented in
docs/report-json.md): the DESIGN.md keys first, in DESIGN.md's order, then the extras.
Hours are rounded to 2 decimals, shares to 4. Times and shares are interval-censored estimates
(`ESTIMATOR`, reports.turnbull); `median_hours_upper` keeps the earlier right-endpoint figure
(Kaplan-Meier on the first down observations) for comparison over time. Rates are null when a
group has fewer notices than `min_notices_for_rates` ("too_few_to_rank": true) or when the
estimate does not exist (a median that is not reached because more than half the notices were
still up at their last check).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from monitor.core.timeline import State
from reports.order_rows import NO_ORDERS, OrderRow, OrderSummary, summarize

GROUP_BYS = ("hoster", "asn", "country", "month")
REPORT_GROUP_BYS = (*GROUP_BYS, "order")  # per order: one row per removal order
ESTIMATOR = "turnbull-npmle"
ESTIMATOR_TEXT = (
    "Turnbull's non-parametric maximum-likelihood estimate for interval-censored "
    "times: each removal lies between the last online check before the takedown "
    "and the first down observation (mass spread evenly within each Turnbull "
    "interval, a quantile placed at the middle of the share of the notice that reaches it); "
    "items still online are right-censored"
)
UPPER_ESTIMATOR = "kaplan-meier-first-down"
STATES = tuple(s.value for s in State)  # the report states: monitor.core.timeline.State


@dataclass(frozen=True)
class NoticeRecord:
    """One notice (a `reports` row, kind 'report' or 'reupload') as the report sees it.

    Times are ISO-8601 UTC strings with `Z`, or None. `hoster` is the hoster at notice time
    (falling back to the latest attributed hoster), `reuploads` how many re-uploads of this
    notice's material were found, `alerted_at` the first alert sent about it.
    """

    report_id: int
    kind: str
    hoster: str | None
    asn: int | None
    country: str | None
    noticed_at: str
    takedown_at: str | None = None
    last_online_at: str | None = None
    first_down_at: str | None = None
    last_checked_at: str | None = None
    state: str = "unchecked"
    reappearances: int = 0
    moves: int = 0
    reuploads: int = 0
    alerted_at: str | None = None
    url: str = ""
    reference: str | None = None


def deadline_key(hours: float) -> str:
    """`12.0` -> "12", `0.5` -> "0.5": the JSON key of a deadline."""
    return str(int(hours)) if float(hours).is_integer() else repr(float(hours))


def _num(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _pair(pair: tuple[float | None, float | None] | None, digits: int) -> list | None:
    if pair is None:
        return None
    low, high = pair
    if low is None and high is None:
        return None
    # An infinite upper bound means "not reached within the observation": null, not a number.
    return [_num(low, digits), _num(high, digits)]


@dataclass(frozen=True)
class GroupStats:
    """The statistics of one group (a hoster, an ASN, a country or a month of noticed_at)."""

    key: str | int | None
    label: str
    asns: tuple[int, ...]
    notices: int
    taken_down: int
    still_online: int
    unresolved: int
    unchecked: int
    too_few_to_rank: bool
    removed_within: dict[float, float | None]
    removed_within_ci95: dict[float, tuple[float | None, float | None] | None]
    median_hours: float | None
    median_ci95: tuple[float | None, float | None] | None
    p90_hours: float | None
    resolution_hours_median: float | None
    reappearances: int
    reuploads: int
    reupload_notices: int
    moves: int
    moved_notices: int
    alerted: int
    alert_to_removal_hours_median: float | None
    oldest_online_hours: float | None
    rank: int | None = None
    alert_to_removal_median_ci95: tuple[float | None, float | None] | None = None
    median_hours_upper: float | None = None  # Kaplan-Meier on the first down observations
    cdn: bool = False  # a "CDN (origin unknown)" group: never ranked as a hoster
    via_cdn_only: int = 0  # notices whose every check was answered by a CDN edge

    def to_dict(self, group_by: str = "hoster") -> dict[str, Any]:
        within = {deadline_key(h): _num(v, 4) for h, v in self.removed_within.items()}
        within_ci = {deadline_key(h): _pair(v, 4) for h, v in self.removed_within_ci95.items()}
        return {
            group_by: self.key,
            "asns": list(self.asns),
            "notices": self.notices,
            "taken_down": self.taken_down,
            "still_online": self.still_online,
            "unresolved": self.unresolved,
            "removed_within": within,
            "median_hours": _num(self.median_hours, 2),
            "median_ci95": _pair(self.median_ci95, 2),
            "p90_hours": _num(self.p90_hours, 2),
            "resolution_hours_median": _num(self.resolution_hours_median, 2),
            "reappearances": self.reappearances,
            "reuploads": self.reuploads,
            "oldest_online_hours": _num(self.oldest_online_hours, 2),
            # extras (documented in docs/report-json.md)
            "label": self.label,
            "rank": self.rank,
            "too_few_to_rank": self.too_few_to_rank,
            "unchecked": self.unchecked,
            "removed_within_ci95": within_ci,
            "moves": self.moves,
            "moved_notices": self.moved_notices,
            "reupload_notices": self.reupload_notices,
            "alerted": self.alerted,
            "alert_to_removal_hours_median": _num(self.alert_to_removal_hours_median, 2),
            "alert_to_removal_median_ci95": _pair(self.alert_to_removal_median_ci95, 2),
            "median_hours_upper": _num(self.median_hours_upper, 2),
        }


@dataclass(frozen=True)
class Curve:
    """A Kaplan-Meier step curve for charts: share still online at each time (hours)."""

    label: str
    hours: tuple[float, ...]
    surviving: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]


@dataclass(frozen=True)
class OnlineItem:
    """A notice still online at the report's cut-off, for the still-online list."""

    report_id: int
    group: str
    url: str
    reference: str | None
    noticed_at: str
    online_hours: float
    reappeared: bool


@dataclass(frozen=True)
class Method:
    """What the methodology section states (from the [takedown] and [report] config)."""

    confirm_checks: int
    confirm_span_hours: float
    unreachable_after_hours: float
    min_notices_for_rates: int
    cutoff: str
    schedule_hours: tuple[float, ...] = ()
    estimator: str = ESTIMATOR
    estimator_text: str = ESTIMATOR_TEXT
    bootstrap_resamples: int = 0

    @property
    def ci95_text(self) -> str:
        return f"bootstrap, {self.bootstrap_resamples} resamples (percentile interval)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "confirm_checks": self.confirm_checks,
            "confirm_span_hours": self.confirm_span_hours,
            "unreachable_after_hours": self.unreachable_after_hours,
            "min_notices_for_rates": self.min_notices_for_rates,
            "censored_at": self.cutoff,
            "estimator": self.estimator,
            "ci95": self.ci95_text,
            "median_hours_upper_estimator": UPPER_ESTIMATOR,
        }


@dataclass(frozen=True)
class Report:
    generated_at: str
    since: str | None
    until: str | None
    deadlines_hours: tuple[float, ...]
    group_by: str
    overall: GroupStats
    groups: tuple[GroupStats, ...]
    method: Method
    curves: tuple[Curve, ...] = ()
    trend: tuple[GroupStats, ...] = ()
    still_online: tuple[OnlineItem, ...] = field(default=())
    orders: tuple[OrderRow, ...] = ()
    order_summaries: dict[str | int | None, OrderSummary] = field(default_factory=dict)

    @property
    def stats_group_by(self) -> str:
        """What `groups` are grouped by: per order, the statistics are per hoster."""
        return "hoster" if self.group_by == "order" else self.group_by

    def order_summary(self, key: str | int | None) -> OrderSummary:
        return self.order_summaries.get(key, NO_ORDERS)

    def orders_overall(self) -> OrderSummary:
        return summarize(self.orders)

    def to_dict(self, redact: Any = None) -> dict[str, Any]:
        """The report JSON; `redact(url)` gives the URL form of order rows (default: the
        text renderer's host-and-hash form: JSON never carries a URL)."""
        if redact is None:
            redact = redact_url
        orders = [o.to_dict(redact(o.url)) for o in self.orders]
        by = self.stats_group_by
        groups = []
        for g in self.groups:
            row = g.to_dict(by)
            row["orders"] = self.order_summary(g.key).to_dict()
            row["cdn"] = g.cdn  # appended after "orders": keys only grow
            row["via_cdn_only"] = g.via_cdn_only
            groups.append(row)
        return {
            "generated_at": self.generated_at,
            "window": {"since": self.since, "until": self.until},
            "deadlines_hours": [_deadline_value(h) for h in self.deadlines_hours],
            "groups": orders if self.group_by == "order" else groups,
            # extras
            "group_by": self.group_by,
            "method": self.method.to_dict(),
            "overall": self.overall.to_dict("group"),
            "estimator": self.method.estimator,
            "orders": orders,
            "orders_overall": self.orders_overall().to_dict(),
            **({"hosters": groups} if self.group_by == "order" else {}),
        }


def _deadline_value(hours: float) -> int | float:
    return int(hours) if float(hours).is_integer() else float(hours)


def redact_url(url: str) -> str:
    """`files.example.test · #3f2a9c01d4`: enough to find the item internally, no path."""
    host = urlsplit(url).hostname or "?"
    return f"{host} · #{hashlib.sha256(url.encode()).hexdigest()[:10]}"
