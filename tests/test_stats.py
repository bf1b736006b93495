"""reports.stats against hand-computed Kaplan-Meier examples."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from monitor.core import clock
from reports.frame import Notices, outcomes
from reports.model import NoticeRecord
from reports.stats import alert_outcomes, compute, group_codes

T0 = clock.parse("2026-01-10T00:00:00Z")
NOW = clock.parse("2026-03-01T00:00:00Z").timestamp()


def at(hours: float) -> str:
    return clock.iso(T0 + timedelta(hours=hours))  # type: ignore[return-value]


def removed(rid: int, hours: float, hoster: str = "A", **kw) -> NoticeRecord:
    return NoticeRecord(
        report_id=rid,
        kind="report",
        hoster=hoster,
        asn=64500,
        country="NL",
        noticed_at=at(0),
        takedown_at=at(hours),
        first_down_at=at(hours),
        last_online_at=at(hours - 1),
        last_checked_at=at(hours + 2),
        state="down",
        **kw,
    )


def online(rid: int, last_check: float, hoster: str = "A", **kw) -> NoticeRecord:
    return NoticeRecord(
        report_id=rid,
        kind="report",
        hoster=hoster,
        asn=64501,
        country="DE",
        noticed_at=at(0),
        last_online_at=at(last_check),
        last_checked_at=at(last_check),
        state="online",
        **kw,
    )


# Removals at 1 h, 2 h and 5 h, each last seen online an hour before; two items still online
# at their last check (3 h). Intervals: (0, 1], (1, 2], (4, 5], and (3, inf) twice.
# Right endpoints (Kaplan-Meier on the first down checks): S(1) = 4/5, S(2) = 4/5 * 3/4 = 0.6,
# censored at 3, S(5) = 0.6 * 0/1 = 0: median 5 h (`median_hours_upper`).
# Turnbull: innermost intervals (0, 1], (1, 2], (4, 5]; the censored items can only be removed
# in (4, 5]: masses 0.2, 0.2, 0.6, i.e. 3 of the 5 notices in (4, 5]. Spread evenly, F reaches
# 0.5 at 4 + 0.1 / 0.6 h and 0.9 at 4 + 0.5 / 0.6 h; the notice that reaches it sits half a
# notice's share (1/6 of the interval) earlier: median 4 h, p90 4 + 2/3 h. The naive median
# dropping the online items: 2 h.
CENSORED = [removed(1, 1), removed(2, 2), online(3, 3), online(4, 3), removed(5, 5)]


def test_censoring_changes_the_median() -> None:
    overall, groups = compute(
        Notices.from_records(CENSORED), cutoff=NOW, min_notices=1, deadlines=(1, 2, 4, 12)
    )
    g = groups[0]
    assert g.median_hours == pytest.approx(4.0)
    assert g.median_hours_upper == pytest.approx(5.0)
    naive = float(np.median([1, 2, 5]))
    assert naive == 2.0 and g.median_hours != naive
    assert g.removed_within[1] == pytest.approx(0.2)
    assert g.removed_within[2] == pytest.approx(0.4)
    assert g.removed_within[4] == pytest.approx(0.4)
    assert g.removed_within[12] == pytest.approx(1.0)
    assert g.p90_hours == pytest.approx(4 + 2 / 3)
    assert g.to_dict()["median_hours_upper"] == 5.0
    low, high = g.removed_within_ci95[2]
    assert low < 0.4 < high
    assert (g.notices, g.taken_down, g.still_online, g.unresolved) == (5, 3, 2, 0)
    assert g.resolution_hours_median == pytest.approx(1.0)
    assert overall.notices == 5


def test_online_items_are_never_counted_removed() -> None:
    items = [online(i, 10 + i) for i in range(1, 11)]
    _overall, (g,) = compute(Notices.from_records(items), cutoff=NOW, deadlines=(1, 12))
    assert g.taken_down == 0 and g.still_online == 10
    assert g.removed_within[1] == 0.0 and g.removed_within[12] == 0.0
    assert g.median_hours is None and g.p90_hours is None
    # the oldest item still online: noticed at T0, measured up to the cut-off
    assert g.oldest_online_hours == pytest.approx((NOW - T0.timestamp()) / 3600)


def test_deadline_beyond_every_observation_is_not_estimated() -> None:
    items = [removed(1, 1), online(2, 3), online(3, 3)]
    _o, (g,) = compute(Notices.from_records(items), cutoff=NOW, min_notices=1, deadlines=(1, 48))
    assert g.removed_within[1] == pytest.approx(1 / 3)
    assert g.removed_within[48] is None


def test_too_few_to_rank_shows_counts_without_rates() -> None:
    _o, groups = compute(Notices.from_records(CENSORED), cutoff=NOW, min_notices=10)
    g = groups[0]
    assert g.too_few_to_rank and g.rank is None
    assert g.notices == 5 and g.taken_down == 3
    assert g.median_hours is None and all(v is None for v in g.removed_within.values())
    d = g.to_dict()
    assert d["too_few_to_rank"] is True and d["median_hours"] is None


def test_unchecked_is_unresolved_and_outside_the_estimate() -> None:
    unchecked = NoticeRecord(
        report_id=9, kind="report", hoster="A", asn=None, country=None, noticed_at=at(0)
    )
    _o, (g,) = compute(Notices.from_records([*CENSORED, unchecked]), cutoff=NOW, min_notices=1)
    assert (g.notices, g.unresolved, g.unchecked) == (6, 1, 1)
    assert g.median_hours == pytest.approx(4.0)  # unchanged by the unchecked notice


def test_unconfirmed_is_censored_at_its_first_down_check() -> None:
    item = NoticeRecord(
        report_id=7,
        kind="report",
        hoster="A",
        asn=1,
        country=None,
        noticed_at=at(0),
        first_down_at=at(6),
        last_online_at=at(4),
        last_checked_at=at(6),
        state="unconfirmed",
    )
    out = outcomes(Notices.from_records([item]), NOW)
    assert not out.event[0] and out.hours[0] == pytest.approx(6.0) and out.at_risk[0]


def test_cutoff_censors_later_takedowns() -> None:
    n = Notices.from_records(CENSORED)
    _o, (g,) = compute(n, cutoff=T0.timestamp() + 4 * 3600, min_notices=1)
    # The 5 h takedown lies after the cut-off: not taken down, still online as of then.
    assert g.taken_down == 2 and g.still_online == 3
    assert g.median_hours is None


def test_groupings_and_ranking() -> None:
    fast = [removed(i, 1, hoster="Fast") for i in range(1, 11)]
    slow = [removed(i, 30, hoster="Slow") for i in range(11, 21)]
    few = [online(21, 5, hoster="Few")]
    n = Notices.from_records([*slow, *fast, *few])
    _o, groups = compute(n, cutoff=NOW, min_notices=10, deadlines=(12, 24))
    assert [(g.label, g.rank) for g in groups] == [("Fast", 1), ("Slow", 2), ("Few", None)]
    assert groups[0].removed_within[12] == 1.0 and groups[1].removed_within[24] == 0.0
    _o, by_country = compute(n, cutoff=NOW, group_by="country", min_notices=1)
    assert {g.key: g.notices for g in by_country} == {"NL": 20, "DE": 1}
    _o, by_asn = compute(n, cutoff=NOW, group_by="asn", min_notices=1)
    assert {g.key: g.asns for g in by_asn} == {64500: (64500,), 64501: (64501,)}
    _o, by_month = compute(n, cutoff=NOW, group_by="month", min_notices=1)
    assert [g.key for g in by_month] == ["2026-01"]
    codes, keys, _labels = group_codes(n, "hoster")
    assert sorted(keys) == ["Fast", "Few", "Slow"] and codes.shape == (21,)


def test_extras_moves_reappearances_reuploads_alerts() -> None:
    items = [
        removed(1, 10, moves=2, reappearances=1, reuploads=3, alerted_at=at(4)),
        removed(2, 3, alerted_at=at(5)),
        online(3, 8, reappearances=0),
    ]
    _o, (g,) = compute(Notices.from_records(items), cutoff=NOW, min_notices=1)
    assert (g.moves, g.moved_notices, g.reappearances, g.reuploads) == (2, 1, 1, 3)
    assert g.alerted == 2
    assert g.alert_to_removal_hours_median == pytest.approx(6.0)  # removal before alert: skipped


# Alerts at 4 h after notice. Removed 2 h and 6 h and 9 h after the alert; one still online at
# its last check 3 h after the alert; one removed at 2 h, reappeared, online again at 12 h (8 h
# after the alert); one removed at 3 h, before the alert, and still down.
# KM over (2 e, 3 c, 6 e, 8 c, 9 e): S(2) = 4/5, S(6) = 4/5 * 2/3 = 0.533, S(9) = 0: median 9 h.
# Dropping the online ones gives median(2, 6, 9) = 6 h.
ALERTED = [
    removed(1, 6, alerted_at=at(4)),
    online(2, 7, alerted_at=at(4)),
    removed(3, 10, alerted_at=at(4)),
    removed(4, 3, alerted_at=at(4)),
    NoticeRecord(
        report_id=5,
        kind="report",
        hoster="A",
        asn=64500,
        country="NL",
        noticed_at=at(0),
        last_online_at=at(12),
        last_checked_at=at(12),
        state="online",
        reappearances=1,
        alerted_at=at(4),
    ),
    removed(6, 13, alerted_at=at(4)),
]


def test_alert_to_removal_is_kaplan_meier_with_censoring() -> None:
    n = Notices.from_records(ALERTED)
    a = alert_outcomes(n, outcomes(n, NOW), NOW)
    assert a.at_risk.tolist() == [True, True, True, False, True, True]
    assert a.event.tolist() == [True, False, True, False, False, True]
    assert a.hours[a.at_risk].tolist() == pytest.approx([2, 3, 6, 8, 9])
    _o, (g,) = compute(n, cutoff=NOW, min_notices=1)
    assert g.alerted == 6
    assert g.alert_to_removal_hours_median == pytest.approx(9.0)
    low, high = g.alert_to_removal_median_ci95
    assert low is not None and low <= 9.0 and (high is None or high >= 9.0)
    d = g.to_dict()
    assert d["alert_to_removal_hours_median"] == 9.0
    assert list(d)[-3:-1] == ["alert_to_removal_hours_median", "alert_to_removal_median_ci95"]


def test_alerted_and_still_online_is_censored_not_dropped() -> None:
    # Three alerted notices, two still online 10 h after their alert: fewer than half removed,
    # so no median (the plain median of the one removal would have said 1 h).
    items = [
        removed(1, 5, alerted_at=at(4)),
        online(2, 14, alerted_at=at(4)),
        online(3, 14, alerted_at=at(4)),
    ]
    _o, (g,) = compute(Notices.from_records(items), cutoff=NOW, min_notices=1)
    assert g.alerted == 3 and g.alert_to_removal_hours_median is None


def test_alert_to_removal_respects_the_cutoff() -> None:
    # As of 8 h: the removal at 10 h has not happened, the alert at 9 h has not been sent.
    items = [
        removed(1, 10, alerted_at=at(4)),
        removed(2, 6, alerted_at=at(4)),
        removed(3, 12, alerted_at=at(9)),
    ]
    n = Notices.from_records(items)
    cutoff = T0.timestamp() + 8 * 3600
    a = alert_outcomes(n, outcomes(n, cutoff), cutoff)
    assert a.at_risk.tolist() == [True, True, False]
    assert a.event.tolist() == [False, True, False]
    # censored at the last check (12 h) capped at the cut-off: 8 h - 4 h
    assert a.hours[:2].tolist() == pytest.approx([4, 2])
    _o, (g,) = compute(n, cutoff=cutoff, min_notices=1)
    assert g.alerted == 2
    assert g.alert_to_removal_hours_median == pytest.approx(2.0)  # KM: S(2) = 1/2


def test_alert_to_removal_needs_enough_notices() -> None:
    _o, (g,) = compute(Notices.from_records(ALERTED), cutoff=NOW, min_notices=10)
    assert g.too_few_to_rank and g.alerted == 6
    assert g.alert_to_removal_hours_median is None and g.alert_to_removal_median_ci95 is None
