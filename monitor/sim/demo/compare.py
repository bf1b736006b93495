"""The demo's check of itself: measured takedown times per hoster against the world's truth.

Pure except `measured_groups`, which reads the store. Measured is the report's statistics over
the reported notices only: re-uploads the demo found are tracked as notices of their own (the
report counts them), but the world's truth is about what was reported. Both estimators are
compared: the interval-censored median (`median_hours`) and the right-endpoint one
(`median_hours_upper`: Kaplan-Meier on the first down observations), each error also as a
fraction of the schedule's gap at the true median (`resolution_at`, the unphased grid).

What cannot be compared is not judged (so the demo passes at any scale): a hoster with fewer
notices than `min_notices_for_rates` has no measured rates. A hoster passes when the
interval-censored median lies within one gap of the truth (the precision the grid alone
guaranteed), or, when either median is beyond reach, when the report says "not reached" and
the truth lies beyond the checks the window allowed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table

from monitor.attribution.cdn import origin_unknown
from monitor.core.schedule import last_slot_at_or_before, next_check
from monitor.core.timeline import Timeline
from reports import load, stats


@dataclass(frozen=True)
class HosterComparison:
    hoster: str
    notices: int
    true_median: float | None
    measured_median: float | None  # interval-censored (the report's median_hours)
    true_within_24h: float | None
    measured_within_24h: float | None
    resolution: float  # the schedule's gap at the true median (hours)
    ok: bool
    measured_upper: float | None = None  # right-endpoint median (median_hours_upper)
    comparable: bool = True  # False: too few notices for rates, not judged

    def error_fraction(self, upper: bool = False) -> float | None:
        """|measured - true| as a fraction of the gap at the true median."""
        measured = self.measured_upper if upper else self.measured_median
        if measured is None or self.true_median is None or self.resolution <= 0:
            return None
        return abs(measured - self.true_median) / self.resolution


def truth_by_hoster(plan, end: datetime) -> dict[str, dict[str, Any]]:
    """True median hours and within-24h share per hoster (CDN-fronted notices: per CDN group,
    "X (origin unknown)", as the report groups them), as the demo could have seen them:
    an item removed after `end`, or never, counts as not removed. The median is the low median
    (the time by which half were removed), the same definition as Kaplan-Meier's."""
    out: dict[str, dict[str, Any]] = {}
    for item in plan.reports():
        hours = math.inf
        if item.removal_at is not None and item.removal_at <= end:
            hours = (item.removal_at - item.noticed_at).total_seconds() / 3600
        # a notice reached only through the CDN's edge belongs to its CDN group
        party = origin_unknown(item.cdn) if getattr(item, "cdn", None) else item.hoster
        out.setdefault(party, {"hours": []})["hours"].append(hours)
    for row in out.values():
        hours = row["hours"]
        median = statistics.median_low(hours)
        row["median"] = None if math.isinf(median) else median
        row["within_24h"] = sum(h <= 24 for h in hours) / len(hours)
    return out


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # any notice time: slots are offsets from it
_SECOND = timedelta(seconds=1)


def _hours_after_notice(slot: datetime | None) -> float:
    return 0.0 if slot is None else (slot - _EPOCH).total_seconds() / 3600


def resolution_at(hours: float, schedule) -> float:
    """The gap between the scheduled checks around `hours` after notice: how precisely a
    removal at that time can be measured."""
    at = _EPOCH + timedelta(hours=hours)
    later = next_check(_EPOCH, Timeline(), schedule, last_due_at=at - _SECOND)
    earlier = last_slot_at_or_before(_EPOCH, schedule, at - _SECOND)
    return _hours_after_notice(later) - _hours_after_notice(earlier)


def last_slot(hours: float, schedule) -> float:
    """The last scheduled check (hours after notice) at or before `hours`."""
    return _hours_after_notice(
        last_slot_at_or_before(_EPOCH, schedule, _EPOCH + timedelta(hours=hours))
    )


def compare(
    report_json: dict[str, Any],
    truth: dict[str, dict[str, Any]],
    schedule,
    follow_up: float = math.inf,
) -> list[HosterComparison]:
    """Measured against true per hoster; `follow_up` is the shortest time (hours) every
    notice was observed for."""
    rows = []
    for group in report_json["groups"]:
        name = group["hoster"]
        true = truth.get(name)
        if true is None:
            continue
        measured = group.get("median_hours")
        upper = group.get("median_hours_upper")
        within = (group.get("removed_within") or {}).get("24")
        comparable = not group.get("too_few_to_rank", False)
        resolution = 0.0
        if true["median"] is not None:
            resolution = resolution_at(true["median"], schedule)
        if not comparable:
            ok = True  # no rates for so few notices: nothing measured, nothing to judge
        elif true["median"] is None or measured is None:
            # A true median beyond the checks the window allowed cannot be measured: the
            # report then says "not reached", which is the honest answer, not an error.
            ok = measured is None and (
                true["median"] is None or true["median"] > last_slot(follow_up, schedule)
            )
        else:
            ok = abs(measured - true["median"]) <= resolution + 0.25
        rows.append(
            HosterComparison(
                name,
                group["notices"],
                true["median"],
                measured,
                true["within_24h"],
                within,
                resolution,
                ok,
                measured_upper=upper,
                comparable=comparable,
            )
        )
    return rows


def comparison_table(comparisons: list[HosterComparison]) -> Any:
    """The rich table the demo prints: true vs measured per hoster, both estimators, errors as
    a fraction of the schedule gap at the true median."""

    def hours(value: float | None) -> str:
        return "never" if value is None else f"{value:.1f}"

    def frac(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    table = Table(
        title="Measured vs. true takedown times per hoster (hours from notice; "
        "error as a fraction of the schedule gap at the true median)",
        title_justify="left",
    )
    for column in (
        "hoster",
        "notices",
        "true median",
        "interval est.",
        "error/gap",
        "first-down est.",
        "error/gap",
        "gap",
        "true <=24h",
        "measured <=24h",
        "ok",
    ):
        table.add_column(column, justify="left" if column == "hoster" else "right")
    for c in comparisons:
        if not c.comparable:
            table.add_row(
                c.hoster,
                str(c.notices),
                hours(c.true_median),
                "too few",
                "-",
                "too few",
                "-",
                "-",
                share(c.true_within_24h),
                "-",
                "n/a",
            )
            continue
        table.add_row(
            c.hoster,
            str(c.notices),
            hours(c.true_median),
            hours(c.measured_median),
            frac(c.error_fraction()),
            hours(c.measured_upper),
            frac(c.error_fraction(upper=True)),
            f"{c.resolution:.1f}" if c.resolution else "-",
            share(c.true_within_24h),
            share(c.measured_within_24h),
            "yes" if c.ok else "[red]NO[/red]",
        )
    return table


def measured_groups(db, config, end: datetime) -> dict[str, Any]:
    """The report JSON's per-hoster groups over reported notices only (no re-upload rows)."""

    notices = load.notices(db)
    notices = notices.take(~notices.reupload)
    _overall, groups = stats.compute(
        notices,
        cutoff=end.timestamp(),
        group_by="hoster",
        deadlines=tuple(float(d) for d in config.report.deadlines_hours),
        min_notices=config.report.min_notices_for_rates,
        registered_asns=load.registered_asns(db),
    )
    return {"groups": [g.to_dict("hoster") for g in groups]}
