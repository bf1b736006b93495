"""Accuracy against ground truth: the report's medians vs. the simulated world's true removals.

A small hoster world with known removal times is crawled on the default schedule, the clock
stepped to every due slot (as the demo does), for one week after notice. Then, per hoster:

- the right-endpoint median (`median_hours_upper`: Kaplan-Meier on the first down checks) lies
  within the measurement resolution of the true median (a takedown is measured at the first
  check after the removal, so it can only be late, by at most the gap between the scheduled
  checks around the true median);
- the interval-censored median (`median_hours`: the removal lies between the last online and
  the first down check) lies within that gap on either side, and is closer to the truth than the
  right-endpoint one over the hosters taken together;
- the censoring-aware estimate is at least as close to the truth as the naive median over
  confirmed takedowns only (dropping what is still online), and strictly closer for the hoster
  that leaves a large share online past the window, where dropping biases the naive median low.

Every notice is given at the window's start, so the whole world shares one set of slots: about
a dozen clock steps crawl everything due at once.
"""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest

from monitor import store
from monitor.core import clock
from monitor.sim.demo.run import resolution_at, steps_from, truth_by_hoster
from monitor.sim.scenario import from_dict
from monitor.sim.stepped import stepped_crawl
from reports.build import build_report
from tests.crawl_helpers import at, crawl_config, load_world

WEEK = timedelta(days=7)
STUBBORN = "Stubborn Host"


def _hoster(name: str, asn: int, items: int, delay: dict) -> dict:
    return {
        "name": name,
        "asn": asn,
        "country": "NL",
        "items": items,
        "galleries": 0,
        "delay": delay,
        "after": {"404": 1.0},
    }


def scenario():
    """Three hosters, all notified at the start: quick, steady, and one that leaves about 40%
    of its items online for good and removes the rest at very different speeds (a wide
    lognormal around 3 h), so its true median lies far beyond the median of its removals."""
    return from_dict(
        {
            "name": "accuracy",
            "seed": 11,
            "start": "2026-03-02T00:00:00Z",
            "days": 7,
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "reappear_share": 0.0,
            "reupload_share": 0.0,
            "baseline_share": 0.0,
            "hash_list_share": 0.0,
            "hosters": [
                _hoster(
                    "Quick Host", 64701, 25, {"dist": "lognormal", "median_hours": 3, "sigma": 0.6}
                ),
                _hoster(
                    "Steady Host",
                    64702,
                    25,
                    {"dist": "lognormal", "median_hours": 20, "sigma": 0.5},
                ),
                _hoster(
                    STUBBORN,
                    64703,
                    101,
                    {"dist": "lognormal", "median_hours": 3, "sigma": 1.8, "never_share": 0.4},
                ),
            ],
        }
    )


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


def naive_medians(db) -> dict[str, float]:
    """The baseline: per hoster, the median of confirmed takedown times, dropping every notice
    not (yet) confirmed removed. The low median, the same definition as Kaplan-Meier's and the
    truth's, so the only difference is what is dropped."""
    hours: dict[str, list[float]] = {}
    for name, noticed, takedown in db.execute(
        "SELECT h.name, r.noticed_at, r.takedown_at FROM reports r "
        "JOIN hosters h ON h.id = r.notified_hoster_id WHERE r.takedown_at IS NOT NULL"
    ):
        span = clock.parse(takedown) - clock.parse(noticed)
        hours.setdefault(name, []).append(span.total_seconds() / 3600)
    return {name: statistics.median_low(v) for name, v in hours.items()}


async def test_reported_medians_match_the_truth(make_world, sim_dns, tmp_path):
    world = await make_world(scenario())
    world.attach_dns(sim_dns)
    config = crawl_config(sim_dns)
    db_file = load_world(world, tmp_path, config)
    start = world.scenario.start
    end = start + WEEK + timedelta(minutes=1)  # the 7-day check is the last one in the window
    db = store.connect(db_file)
    at(world, start)

    async def on_step(when) -> None:
        at(world, when)

    await stepped_crawl(db_file, config, steps_from(db, start, end), on_step=on_step)
    at(world, end)
    report = build_report(db, config, now=end)
    truth = truth_by_hoster(world.plan, end)
    naive = naive_medians(db)
    db.conn.close()
    groups = {g.label: g for g in report.groups}
    assert set(groups) == set(truth), "every notice is attributed to its hoster"

    stubborn = groups[STUBBORN]
    online_share = stubborn.still_online / stubborn.notices
    assert online_share >= 0.35, "the scenario must leave a substantial share online"

    errors: list[tuple[float, float]] = []
    for name, g in groups.items():
        true = truth[name]["median"]
        assert g.notices == len(truth[name]["hours"]) and not g.too_few_to_rank
        assert true is not None and g.median_hours is not None, name
        resolution = resolution_at(true, config.schedule)
        seen = (name, true, g.median_hours, naive[name], resolution)
        # measured at the first check after the removal: late by at most the resolution
        assert -1 / 60 <= g.median_hours_upper - true <= resolution + 1 / 60, seen
        assert abs(g.median_hours_upper - true) <= abs(naive[name] - true) + 1e-9, seen
        # the interval estimate: within the gap, on either side
        assert abs(g.median_hours - true) <= resolution + 1 / 60, seen
        errors.append(
            (abs(g.median_hours - true) / resolution, abs(g.median_hours_upper - true) / resolution)
        )
        # 24 h is a scheduled check and nothing is censored before it: the share is exact
        assert g.removed_within[24] == pytest.approx(truth[name]["within_24h"]), seen
    interval_error, upper_error = (sum(e) for e in zip(*errors, strict=True))
    assert interval_error < upper_error, errors
    # Where many items stay online, dropping them biases the naive median low: it misses the
    # truth by more than the resolution, while the censoring-aware median stays within it.
    true = truth[STUBBORN]["median"]
    naive_error, km_error = true - naive[STUBBORN], abs(stubborn.median_hours_upper - true)
    assert naive_error > resolution_at(true, config.schedule) >= km_error, (
        true,
        stubborn.median_hours_upper,
        naive[STUBBORN],
    )
