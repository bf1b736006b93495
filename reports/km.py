"""Kaplan-Meier estimates of time to takedown (lifelines), reduced to what reports print.

One fit per group. Values that the data cannot support are None rather than a number: a median
or p90 that is not reached, a confidence bound that is not reached (infinite), and the share
removed within a deadline that lies beyond the longest observation when items were still up.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from reports.model import Curve

Pair = tuple[float | None, float | None]


@dataclass(frozen=True)
class KMSummary:
    median: float | None
    median_ci95: Pair | None
    p90: float | None
    removed_within: dict[float, float | None]
    removed_within_ci95: dict[float, Pair | None]


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def fit(hours: np.ndarray, event: np.ndarray) -> KaplanMeierFitter | None:
    if hours.size == 0:
        return None
    kmf = KaplanMeierFitter()
    kmf.fit(hours, event_observed=event, alpha=0.05)
    return kmf


def _steps(kmf: KaplanMeierFitter) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    timeline = kmf.survival_function_.index.to_numpy(dtype=np.float64)
    surv = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=np.float64)
    ci = kmf.confidence_interval_survival_function_
    return timeline, surv, ci.iloc[:, 0].to_numpy(np.float64), ci.iloc[:, 1].to_numpy(np.float64)


def summarise(hours: np.ndarray, event: np.ndarray, deadlines: Sequence[float]) -> KMSummary:
    kmf = fit(hours, event)
    if kmf is None:
        none = {d: None for d in deadlines}
        return KMSummary(None, None, None, dict(none), dict(none))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        median = _finite(kmf.median_survival_time_)
        ci_frame = median_survival_times(kmf.confidence_interval_)
        bounds = sorted((float(ci_frame.iloc[0, 0]), float(ci_frame.iloc[0, 1])))
        p90 = _finite(kmf.percentile(0.1))
    median_ci: Pair = (_finite(bounds[0]), _finite(bounds[1]))
    timeline, surv, low, high = _steps(kmf)
    last = float(hours.max())
    within: dict[float, float | None] = {}
    within_ci: dict[float, Pair | None] = {}
    for d in deadlines:
        i = int(np.searchsorted(timeline, d, side="right")) - 1
        s = 1.0 if i < 0 else float(surv[i])
        if d > last and s > 0.0:
            within[d], within_ci[d] = None, None  # beyond every observation: not estimable
            continue
        within[d] = 1.0 - s
        within_ci[d] = (0.0, 0.0) if i < 0 else (1.0 - float(high[i]), 1.0 - float(low[i]))
    return KMSummary(median, median_ci, p90, within, within_ci)


def curve(hours: np.ndarray, event: np.ndarray, label: str, *, points: int = 300) -> Curve | None:
    """The step curve (share still online over hours), thinned to about `points` steps."""
    kmf = fit(hours, event)
    if kmf is None:
        return None
    timeline, surv, low, high = _steps(kmf)
    if timeline.size > points:
        grid = np.linspace(0.0, float(timeline[-1]), points)
        idx = np.clip(np.searchsorted(timeline, grid, side="right") - 1, 0, None)
        timeline, surv, low, high = grid, surv[idx], low[idx], high[idx]

    def tup(a: np.ndarray) -> tuple[float, ...]:
        return tuple(float(round(x, 4)) for x in a)

    return Curve(
        label=label, hours=tup(timeline), surviving=tup(surv), lower=tup(low), upper=tup(high)
    )
