"""The demo's check of itself: measured takedown times per hoster against the world's truth.

Pure except `measured_groups`, which reads the store. Measured is the report's Kaplan-Meier
statistics over the reported notices only: re-uploads the demo found are tracked as notices
of their own (the report counts them), but the world's truth is about what was reported.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.schedule import last_slot_at_or_before, next_check
from monitor.timeline import Timeline


@dataclass(frozen=True)
class HosterComparison:
    hoster: str
    notices: int
    true_median: float | None
    measured_median: float | None
    true_within_24h: float | None
    measured_within_24h: float | None
    resolution: float
    ok: bool


def truth_by_hoster(plan, end: datetime) -> dict[str, dict[str, Any]]:
    """True median hours and within-24h share per hoster, as the demo could have seen them:
    an item removed after `end`, or never, counts as not removed. The median is the low median
    (the time by which half were removed), the same definition as Kaplan-Meier's."""
    out: dict[str, dict[str, Any]] = {}
    for item in plan.reports():
        hours = math.inf
        if item.removal_at is not None and item.removal_at <= end:
            hours = (item.removal_at - item.noticed_at).total_seconds() / 3600
        out.setdefault(item.hoster, {"hours": []})["hours"].append(hours)
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
        last_slot_at_or_before(_EPOCH, schedule, _EPOCH + timedelta(hours=hours)))


def compare(report_json: dict[str, Any], truth: dict[str, dict[str, Any]],
            schedule, follow_up: float = math.inf) -> list[HosterComparison]:
    """Measured against true per hoster; `follow_up` is the shortest time (hours) every
    notice was observed for."""
    rows = []
    for group in report_json["groups"]:
        name = group["hoster"]
        true = truth.get(name)
        if true is None:
            continue
        measured = group.get("median_hours")
        within = (group.get("removed_within") or {}).get("24")
        if true["median"] is None or measured is None:
            resolution = 0.0
            # A true median beyond the checks the window allowed cannot be measured: the
            # report then says "not reached", which is the honest answer, not an error.
            ok = measured is None and (true["median"] is None
                                       or true["median"] > last_slot(follow_up, schedule))
        else:
            resolution = resolution_at(true["median"], schedule)
            ok = -0.25 <= measured - true["median"] <= resolution + 0.25
        rows.append(HosterComparison(name, group["notices"], true["median"], measured,
                                     true["within_24h"], within, resolution, ok))
    return rows


def measured_groups(db, config, end: datetime) -> dict[str, Any]:
    """The report JSON's per-hoster groups over reported notices only (no re-upload rows)."""
    from reports import load, stats

    notices = load.notices(db)
    notices = notices.take(~notices.reupload)
    _overall, groups = stats.compute(
        notices, cutoff=end.timestamp(), group_by="hoster",
        deadlines=tuple(float(d) for d in config.report.deadlines_hours),
        min_notices=config.report.min_notices_for_rates,
        registered_asns=load.registered_asns(db))
    return {"groups": [g.to_dict("hoster") for g in groups]}
