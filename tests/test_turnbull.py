"""reports.turnbull (interval-censored NPMLE) against lifelines and hand-worked examples; the
intervals the report feeds it (reports.frame.intervals, reports.load)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from monitor import store
from monitor.core import clock
from monitor.core.config import ScheduleConfig, TakedownConfig
from monitor.store.summary import refresh
from reports import load, turnbull
from reports.frame import Notices, intervals, outcomes
from reports.model import NoticeRecord

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _random_intervals(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Removal times checked at random times of each notice's own (no shared check times)."""
    rng = np.random.default_rng(seed)
    true = rng.lognormal(np.log(20), 0.8, n)
    left, right = np.zeros(n), np.full(n, np.inf)
    for i in range(n):
        checks = np.sort(rng.uniform(0.01, 200, 10)).round(3)
        before, after = checks[checks < true[i]], checks[checks >= true[i]]
        left[i] = before[-1] if before.size else 0.0
        right[i] = after[0] if after.size else np.inf
    return left, right


def test_agrees_with_lifelines_on_data_without_shared_check_times(monkeypatch):
    monkeypatch.setattr(turnbull, "RESOLUTION_HOURS", 1e-4)
    left, right = _random_intervals(150, seed=3)
    fit = turnbull.fit(left, right)
    assert fit is not None
    kmf = KaplanMeierFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf.fit_interval_censoring(left, right, tol=1e-10)
    sf = kmf.survival_function_
    ends = fit.hi[np.isfinite(fit.hi)]
    theirs = np.array([1 - sf.loc[:h].iloc[-1, 1] for h in ends])
    assert np.abs(fit.cdf(ends) - theirs).max() < 5e-3
    # lifelines gives the median as an interval (the NPMLE does not place mass within an
    # innermost interval); ours lies in it, up to that tolerance
    low, high = sorted(float(x) for x in kmf.median_survival_time_.iloc[0])
    median = fit.quantile(0.5)
    assert median is not None and low - 0.5 <= median <= high + 0.5


def test_intervals_are_half_open_at_a_shared_check_time():
    """A notice down at the 2 h check and another online at it: (0, 2] and (2, 4]: two
    innermost intervals, no point mass at 2 h (closed intervals would make [2, 2] one)."""
    left = np.array([0.0, 0.0, 2.0, 2.0])
    right = np.array([2.0, 2.0, 4.0, 4.0])
    fit = turnbull.fit(left, right)
    assert fit is not None
    assert list(zip(fit.lo, fit.hi, strict=True)) == [(0.0, 2.0), (2.0, 4.0)]
    assert fit.p == pytest.approx([0.5, 0.5])
    assert fit.cdf([1.0, 2.0, 3.0, 4.0]) == pytest.approx([0.25, 0.5, 0.75, 1.0])
    # half are removed by 2 h: the second of the two notices in (0, 2] sits at the middle of its
    # share of that interval (the end of the interval without the item correction)
    assert fit.quantile(0.5) == pytest.approx(1.5)
    assert turnbull.Fit(fit.lo, fit.hi, fit.p, fit.last).quantile(0.5) == pytest.approx(2.0)


def test_exact_and_censored_observations():
    # exact times 1..4: the earliest time by which half were removed (Kaplan-Meier's median)
    fit = turnbull.fit(np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 3, 4]))
    assert fit is not None and fit.quantile(0.5) == pytest.approx(2.0)
    assert fit.quantile(0.75) == pytest.approx(3.0)
    # three of five last seen online at 10 h: the median is not reached
    s = turnbull.summarise(
        np.array([0.0, 1, 10, 10, 10]), np.array([1.0, 2, np.inf, np.inf, np.inf]), (1, 2, 24)
    )
    assert s.median is None
    assert s.removed_within[1] == pytest.approx(0.2) and s.removed_within[2] == 0.4
    assert s.removed_within[24] is None  # beyond every observation, items still up


def test_bootstrap_is_seeded_and_covers_the_median():
    left, right = _random_intervals(120, seed=5)
    a = turnbull.summarise(left, right, (12, 24))
    b = turnbull.summarise(left, right, (12, 24))
    assert a.median_ci95 == b.median_ci95 and a.removed_within_ci95 == b.removed_within_ci95
    low, high = a.median_ci95
    assert low is not None and high is not None and low <= a.median <= high
    other = turnbull.summarise(left, right, (12, 24), seed=turnbull.SEED + 1)
    assert other.median_ci95 != a.median_ci95
    assert a.resamples is not None and a.resamples.shape[0] == turnbull.RESAMPLES


def _record(rid: int, **kw) -> NoticeRecord:
    return NoticeRecord(
        report_id=rid,
        kind="report",
        hoster="A",
        asn=None,
        country=None,
        noticed_at=clock.iso(T0) or "",
        **kw,
    )


def at(hours: float) -> str:
    return clock.iso(T0 + hours * H) or ""


def test_frame_intervals_for_each_kind_of_notice():
    records = [
        _record(
            1,
            takedown_at=at(8),
            first_down_at=at(8),
            last_online_at=at(4),
            last_checked_at=at(12),
            state="down",
        ),  # (4, 8]
        _record(
            2, takedown_at=at(1), first_down_at=at(1), last_checked_at=at(2), state="down"
        ),  # (0, 1]: never online
        _record(3, last_online_at=at(30), last_checked_at=at(30), state="online"),  # (30, inf)
        _record(
            4,
            first_down_at=at(36),
            last_online_at=at(24),
            last_checked_at=at(36),
            state="unconfirmed",
        ),  # (24, inf)
        # removed at 2 h, back online at 170 h: its last online (170 h) is after the takedown;
        # the interval starts at the last online check before it (from the checks: 1 h)
        _record(
            5,
            takedown_at=at(2),
            first_down_at=None,
            last_online_at=at(170),
            last_checked_at=at(170),
            state="online",
            reappearances=1,
        ),
    ]
    n = Notices.from_records(records)
    before = n.last_online.copy()  # what reports.load reads: last_online_at, except ...
    before[4] = (T0 + H).timestamp()  # ... for a reappeared notice, from its checks
    n = Notices(**{**n.__dict__, "online_before": before})
    cutoff = (T0 + 200 * H).timestamp()
    left, right = intervals(n, outcomes(n, cutoff), cutoff)
    assert left.tolist() == pytest.approx([4, 0, 30, 24, 1])
    assert right.tolist() == [8, 1, np.inf, np.inf, 2]
    # a cut-off before a takedown censors it, alive at the last online check before then
    early = (T0 + 6 * H).timestamp()
    left, right = intervals(n, outcomes(n, early), early)
    assert (left[0], right[0]) == (4, np.inf)


def test_load_reads_the_last_online_check_before_the_first_takedown(tmp_path):
    db = store.connect(tmp_path / "t.db")
    db["reports"].insert(
        {
            "id": 1,
            "url": "http://h.test/1.jpg",
            "url_key": "h.test/1.jpg",
            "reported_at": clock.iso(T0),
            "noticed_at": clock.iso(T0),
            "imported_at": clock.iso(T0),
        }
    )
    checks = [(1, "online"), (2, "removed"), (4, "removed"), (170, "online")]
    db["checks"].insert_all(
        [
            {
                "report_id": 1,
                "due_at": clock.iso(T0 + h * H),
                "checked_at": clock.iso(T0 + h * H),
                "outcome": o,
                "reason": "r",
            }
            for h, o in checks
        ]
    )
    refresh(db, [1], TakedownConfig(), ScheduleConfig(), now=T0 + 170 * H)
    n = load.notices(db)
    db.conn.close()
    assert n.last_online[0] == (T0 + 170 * H).timestamp()  # the latest online check
    assert n.online_before is not None
    assert n.online_before[0] == (T0 + H).timestamp()  # the one before the takedown
