"""Benchmark: how precisely the report measures each hoster's median time to takedown.

The demo's world (the shipped default scenario, scaled as `ntd-monitor demo` scales it) is
observed without any network: the world's plan is pure (monitor.sim.plan: each item's notice,
removal, reappearance and noise), so every scheduled check's outcome is read off the plan at
the check's time, the way the demo's crawl steps the clock to every due slot. Each notice's
checks go through the real timeline (monitor.core.timeline), schedule (monitor.core.schedule)
and report statistics (reports.stats), once per setup, on the same world:

- baseline (today's figure): every notice checked at the same offsets (the grid), median of the
  first down observations (Kaplan-Meier; `median_hours_upper` in the report);
- the same grid and interval estimate with each interval's last notice placed at the
  interval's end (reports.turnbull.ITEM_CORRECTION off: the estimate before that correction);
- ours (the shipped default): the same grid, median from the interval each removal lies in
  (Turnbull's NPMLE, interpolated within gaps, each mass read as evenly spaced notices, the one
  reaching the median at the middle of its share; `median_hours`);
- the alternative: per-notice check phases (monitor.core.schedule with `--phase-fraction`, default
  0.5, keyed by the report id) and the same interval estimator.

Printed per hoster: the true median, |measured - true| / the schedule gap at the true median for
each setup, the within-24h shares, and the number of checks each setup made (the same world,
so phases must not cost checks). Goal: error/gap <= 0.25 for every hoster with >= 30 notices,
24 h share within 3 points of the truth, no more checks than the grid.

Outcomes after removal: `dns_gone` is DNS gone, `reset` and `slow` unreachable, every other
behaviour `removed` (the classifier's answer for 404/410/451, placeholders, redirects, other
images and undecodable or oversized files); noisy hours answer 5xx (unreachable) or 401/403
(blocked), as the world does.

    python bench/bench_precision.py                     # the demo's world: 500 reports, 30 days
    python bench/bench_precision.py --seeds 1 2 3 4 5   # several worlds
    python bench/bench_precision.py --reports 2000      # more notices per hoster
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.attribution.cdn import origin_unknown  # noqa: E402
from monitor.core import (
    clock,
    schedule,  # noqa: E402
)
from monitor.core.classify import Outcome  # noqa: E402
from monitor.core.config import Config  # noqa: E402
from monitor.core.schedule import next_check  # noqa: E402
from monitor.core.timeline import Observation, Timeline, build  # noqa: E402
from monitor.sim import plan as sim_plan  # noqa: E402
from monitor.sim import scenario as scenarios  # noqa: E402
from monitor.sim.demo.compare import resolution_at, truth_by_hoster  # noqa: E402
from monitor.sim.demo.run import scale  # noqa: E402
from monitor.store.summary import first_takedown  # noqa: E402
from reports import stats, turnbull  # noqa: E402
from reports.frame import Notices  # noqa: E402
from reports.model import NoticeRecord  # noqa: E402

UNREACHABLE = {"reset", "slow"}
PHASES = 0.5  # the phase fraction of the alternative setup (--phase-fraction)


def outcome(item: sim_plan.Item, at: datetime, noise_rate: float) -> Outcome:
    phase = sim_plan.phase_at(item, at)
    if phase == sim_plan.ONLINE:
        status = sim_plan.noise_hit(item, at, noise_rate)
        if status is None:
            return Outcome.ONLINE
        return Outcome.UNREACHABLE if status >= 500 else Outcome.BLOCKED
    if phase == "dns_gone":
        return Outcome.DNS_GONE
    return Outcome.UNREACHABLE if phase in UNREACHABLE else Outcome.REMOVED


def observe(
    item: sim_plan.Item, key: int | None, end: datetime, config: Config, noise_rate: float
) -> tuple[Timeline, int]:
    """Check `item` at every slot of its schedule until `end`, as the demo's crawl does."""
    assert item.noticed_at is not None
    obs: list[Observation] = []
    timeline, last = Timeline(), None
    while True:
        slot = next_check(item.noticed_at, timeline, config.schedule, last_due_at=last, key=key)
        if slot is None or slot > end:
            return timeline, len(obs)
        obs.append(Observation(slot, outcome(item, slot, noise_rate), "sim"))
        timeline = build(item.noticed_at, obs, config.takedown)
        last = slot


def iso(when: datetime | None) -> str | None:
    return clock.iso(when) if when is not None else None


def notices(
    world: sim_plan.Plan, phased: bool, end: datetime, config: Config
) -> tuple[Notices, int]:
    saved = schedule.PHASE_FRACTION
    schedule.PHASE_FRACTION = PHASES if phased else 0.0
    try:
        return _notices(world, phased, end, config)
    finally:
        schedule.PHASE_FRACTION = saved


def _notices(
    world: sim_plan.Plan, phased: bool, end: datetime, config: Config
) -> tuple[Notices, int]:
    records, before, checks = [], [], 0
    rates = {h.name: h.noise_rate for h in world.scenario.hosters}
    for rid, item in enumerate(world.reports(), start=1):
        t, n = observe(item, rid if phased else None, end, config, rates[item.hoster])
        checks += n
        records.append(
            NoticeRecord(
                report_id=rid,
                kind="report",
                asn=None,
                country=None,
                # grouped as the report groups it: a CDN-fronted notice under its CDN's group
                hoster=origin_unknown(item.cdn) if getattr(item, "cdn", None) else item.hoster,
                noticed_at=iso(item.noticed_at) or "",
                takedown_at=iso(first_takedown(t)),
                last_online_at=iso(t.last_online_at),
                first_down_at=iso(t.first_down_at),
                last_checked_at=iso(t.last_checked_at),
                state=t.state.value,
                reappearances=t.reappearances,
            )
        )
        # the last online check before the first takedown (what reports.load reads)
        online = t.takedowns[0][0] if t.takedowns else t.last_online_at
        before.append(np.nan if online is None else online.timestamp())
    n = Notices.from_records(records)
    return replace(n, online_before=np.array(before, dtype=np.float64)), checks


@dataclass
class Row:
    hoster: str
    notices: int
    true: float | None
    gap: float
    errors: dict[str, float | None]
    within24: dict[str, float | None]
    true24: float


def measure(seed: int, reports: int, days: int, hosters: int) -> tuple[list[Row], dict]:
    scn = scale(scenarios.load("default"), hosters=hosters, reports=reports, days=days, seed=seed)
    world = sim_plan.generate(scn)
    config = Config()
    end = scn.start + timedelta(days=days)
    truth = truth_by_hoster(world, end)
    setups = {}
    checks = {}
    for phased, corrected in ((False, True), (True, True), (False, False)):
        n, count = notices(world, phased, end, config)
        checks["phased" if phased else "grid"] = count
        saved, turnbull.ITEM_CORRECTION = turnbull.ITEM_CORRECTION, corrected
        try:
            _o, groups = stats.compute(
                n,
                cutoff=end.timestamp(),
                deadlines=(1, 12, 24, 48),
                min_notices=config.report.min_notices_for_rates,
            )
        finally:
            turnbull.ITEM_CORRECTION = saved
        setups[phased, corrected] = {g.label: g for g in groups}
    rows = []
    for name, true in truth.items():
        median = true["median"]
        gap = resolution_at(median, config.schedule) if median is not None else 0.0
        grid, ph = setups[False, True][name], setups[True, True][name]
        picks = {
            "grid, first down (today)": grid.median_hours_upper,
            "grid, interval, notice at its interval's end": setups[False, False][name].median_hours,
            "grid, interval (ours)": grid.median_hours,
            "phased, interval": ph.median_hours,
        }

        def err(
            value: float | None, median: float | None = median, gap: float = gap
        ) -> float | None:
            if value is None or median is None or not gap:
                return None
            return abs(value - median) / gap

        rows.append(
            Row(
                name,
                grid.notices,
                median,
                gap,
                {k: err(v) for k, v in picks.items()},
                {"grid": grid.removed_within.get(24.0), "phased": ph.removed_within.get(24.0)},
                true["within_24h"],
            )
        )
    return rows, checks


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--reports", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--hosters", type=int, default=8)
    parser.add_argument(
        "--phase-fraction",
        type=float,
        default=PHASES,
        help="phase fraction of the phased setup (monitor.core.schedule)",
    )
    args = parser.parse_args()
    globals()["PHASES"] = args.phase_fraction
    worst: dict[str, float] = {}
    failures = 0
    for seed in args.seeds:
        start = time.perf_counter()
        rows, checks = measure(seed, args.reports, args.days, args.hosters)
        keys = list(rows[0].errors)
        print(
            f"\nseed {seed}: {args.reports} reports, {args.days} days; checks: grid "
            f"{checks['grid']}, phased {checks['phased']} "
            f"({checks['phased'] - checks['grid']:+d}); {time.perf_counter() - start:.1f} s"
        )
        print(
            f"{'hoster':24} {'n':>4} {'true':>7} {'gap':>5} | "
            + " | ".join(f"{k:>24}" for k in keys)
            + f" | {'24h true':>8} {'grid':>6} {'phased':>6}"
        )
        for r in rows:
            print(
                f"{r.hoster:24} {r.notices:>4} {fmt(r.true, '.1f'):>7} {fmt(r.gap, '.0f'):>5} | "
                + " | ".join(f"{fmt(r.errors[k]):>24}" for k in keys)
                + f" | {r.true24:>8.1%} {fmt(r.within24['grid'], '.1%'):>6} "
                f"{fmt(r.within24['phased'], '.1%'):>6}"
            )
            if r.notices >= 30:
                for k in keys:
                    if r.errors[k] is not None:
                        worst[k] = max(worst.get(k, 0.0), r.errors[k])
                ours = r.errors["grid, interval (ours)"]
                share = r.within24["grid"]
                if (ours is not None and ours > 0.25) or (
                    share is not None and abs(share - r.true24) > 0.03
                ):
                    failures += 1
    print(
        "\nworst error/gap over hosters with >= 30 notices: "
        + ", ".join(f"{k}: {v:.2f}" for k, v in worst.items())
    )
    print(
        f"ratio (today's worst / ours): "
        f"{worst['grid, first down (today)'] / max(worst['grid, interval (ours)'], 1e-9):.1f}x"
        f"; {'goal met' if not failures else f'{failures} misses of the goal'}"
    )


if __name__ == "__main__":
    main()
