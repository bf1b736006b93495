"""Turnbull's estimator of time to takedown from interval-censored observations (pure numpy).

Each notice says its material was removed within `(left, right]` hours after notice: `left` the
last check that saw it online before the takedown (0 when none: the material was confirmed at
notice), `right` the first down observation; `right = inf` when it is not removed (yet): alive at
`left`, right-censored there; `left == right` is an exactly known time. `fit()` returns the
non-parametric maximum-likelihood estimate (NPMLE) of the removal-time distribution: probability
masses on the Turnbull (innermost) intervals, found by the self-consistency (EM) iteration.
The NPMLE says how much mass lies in an innermost interval, not where inside it: `Fit.cdf` and
`Fit.quantile` spread each mass evenly over its interval (on the shared check grid: linear
within each gap between two checks, where the removals of that gap happened).
`summarise()` adds 95% percentile intervals for the median and the deadline shares from a
bootstrap over the notices (`RESAMPLES` resamples, seeded: reruns agree).

Written here rather than taken from lifelines (`KaplanMeierFitter.fit_interval_censoring`, which
tests/test_turnbull.py checks us against) because lifelines (0.30) treats intervals as closed
`[l, r]`: a check time that is one notice's last online and another's first down (the usual case
when notices share schedule offsets) becomes a spurious point mass there, whereas a check
interval is half-open; it loops in Python over observations and iterations (minutes for 10^5
notices, and a bootstrap needs hundreds of fits); and it gives no confidence interval.
Endpoints are rounded outward to `RESOLUTION_HOURS` (the truth stays inside), coarser only for
groups so varied that the unique intervals would exceed `MAX_UNIQUE`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

RESOLUTION_HOURS = 1 / 60
MAX_UNIQUE = 20_000
TOL = 1e-6  # stop when no cumulative probability moves by more than this
MAX_ITER = 5_000
RESAMPLES = 200
BOOT_TOL = 1e-4  # resamples start from the estimate: a looser stop is enough
BOOT_MAX_ITER = 200
# quantiles read each mass as evenly spaced notices (Fit.n); bench/bench_precision.py measures
# with and without
ITEM_CORRECTION = True
SEED = 20_260_301


@dataclass(frozen=True, eq=False)
class Fit:
    """The NPMLE: mass `p[j]` on innermost interval `(lo[j], hi[j]]` (`[t, t]` when lo == hi,
    `hi = inf` for the mass of notices still online past every check)."""

    lo: np.ndarray
    hi: np.ndarray
    p: np.ndarray
    last: float  # the latest finite endpoint observed (hours)
    n: float = 0.0  # notices behind the masses (0: quantiles without the item correction)

    def cdf(self, t: np.ndarray | float) -> np.ndarray:
        """Share removed by `t` hours (mass spread evenly within each innermost interval)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        return _cdf(self.lo, self.hi, self.p[None, :], t)[0]

    def quantile(self, q: float) -> float | None:
        """The earliest time by which a share `q` was removed; None when not reached."""
        return _quantile(self.lo, self.hi, self.p[None, :], q, self.n)[0]


def _cdf(lo: np.ndarray, hi: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """F(t) for each row of `p` (rows: fits on the same intervals) at times `t`: (rows, len(t))."""
    width = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(
            width[None, :] > 0,
            (t[:, None] - lo[None, :]) / width[None, :],
            (t[:, None] >= hi[None, :]).astype(np.float64),
        )
    frac = np.where(np.isinf(hi)[None, :], 0.0, np.clip(np.nan_to_num(frac), 0.0, 1.0))
    return p @ frac.T


def cdf_rows(fit: Fit, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """F(t) for bootstrap masses `rows` on `fit`'s intervals: (len(rows), len(t))."""
    return _cdf(fit.lo, fit.hi, rows, np.asarray(t, dtype=np.float64))


def _quantile(
    lo: np.ndarray, hi: np.ndarray, p: np.ndarray, q: float, n: float = 0.0
) -> list[float | None]:
    """Per row of `p`: the earliest t with F(t) >= q, mass spread evenly within each innermost
    interval. With `n` (the notices behind the masses) the mass of an interval is read as
    p * n notices evenly spaced in it, each at the middle of its share: the notice that reaches
    q is placed half a share before the point where the interpolated F reaches q (without it,
    the last notice of an interval would always sit at its end: an even split, half the notices
    removed by one check, put the median on the check itself). None: reached only in the
    censored tail, beyond every observation."""
    cum = np.cumsum(p, axis=1)
    j = np.minimum((cum < q - 1e-9).sum(axis=1), p.shape[1] - 1)
    rows = np.arange(p.shape[0])
    before = cum[rows, j] - p[rows, j]
    out: list[float | None] = []
    for r, k in enumerate(j.tolist()):
        if cum[r, k] < q - 1e-9 or math.isinf(hi[k]):
            out.append(None)
        elif hi[k] == lo[k] or p[r, k] <= 0:
            out.append(float(hi[k]))
        else:
            share = (q - before[r]) / p[r, k]
            if n > 0:  # the notices in the interval as evenly spaced items: the one reaching
                share -= 0.5 / (p[r, k] * n)  # q sits at the middle of its share, not its end
            share = min(max(share, 0.0), 1.0)
            out.append(float(lo[k] + share * (hi[k] - lo[k])))
    return out


@dataclass(frozen=True, eq=False)
class _Problem:
    """Unique observations (weights `w`) covering innermost intervals `a[i]..b[i]`."""

    lo: np.ndarray
    hi: np.ndarray
    a: np.ndarray
    b: np.ndarray
    w: np.ndarray
    last: float

    @property
    def m(self) -> int:
        return int(self.lo.shape[0])


def _round(left: np.ndarray, right: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    exact = left == right
    lo = np.floor(left / step + 1e-9) * step
    with np.errstate(invalid="ignore"):
        hi = np.where(np.isinf(right), np.inf, np.ceil(right / step - 1e-9) * step)
    hi = np.where(exact, np.round(right / step) * step, hi)
    lo = np.where(exact, hi, lo)
    return lo, hi


def _problem(left: np.ndarray, right: np.ndarray) -> _Problem:
    left = np.maximum(np.asarray(left, dtype=np.float64), 0.0)
    right = np.maximum(np.asarray(right, dtype=np.float64), left)
    step = RESOLUTION_HOURS
    while True:
        lo_obs, hi_obs = _round(left, right, step)
        values = np.unique(np.concatenate([lo_obs, hi_obs]))
        exact = lo_obs == hi_obs
        # order of endpoints at one value t: exact start "[t", then right end "t]", then open
        # left end "(t": a notice down at t and another online at t share no innermost interval
        kl = np.searchsorted(values, lo_obs) * 3 + np.where(exact, 0, 2)
        kr = np.searchsorted(values, hi_obs) * 3 + 1
        pair, w = np.unique(kl * (3 * values.size + 3) + kr, return_counts=True)
        if pair.size <= MAX_UNIQUE:
            break
        step *= 2
    kl, kr = pair // (3 * values.size + 3), pair % (3 * values.size + 3)
    keys = np.unique(np.concatenate([kl, kr]))
    is_left = keys % 3 != 1
    start = np.flatnonzero(is_left[:-1] & ~is_left[1:])
    lo_key, hi_key = keys[start], keys[start + 1]
    a = np.searchsorted(lo_key, kl, side="left")
    b = np.searchsorted(hi_key, kr, side="right") - 1
    finite = values[np.isfinite(values)]
    return _Problem(
        lo=values[lo_key // 3],
        hi=values[hi_key // 3],
        a=a,
        b=b,
        w=w.astype(np.float64),
        last=float(finite.max()) if finite.size else 0.0,
    )


def _em(
    prob: _Problem,
    weights: np.ndarray,
    p: np.ndarray,
    *,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
) -> np.ndarray:
    """Self-consistency (EM) iterations for each row of `weights` (rows: resamples), from `p`,
    accelerated by SQUAREM (Varadhan and Roland 2008, step S3), falling back to the plain EM
    step whenever the extrapolation would lower the likelihood."""
    n_obs, m = prob.a.size, prob.m
    rows = np.arange(n_obs)
    diff = sparse.csr_matrix(
        (
            np.concatenate([np.ones(n_obs), -np.ones(n_obs)]),
            (np.concatenate([rows, rows]), np.concatenate([prob.a, prob.b + 1])),
        ),
        shape=(n_obs, m + 1),
    ).T.tocsr()
    total = weights.sum(axis=1, keepdims=True)
    zero = np.zeros((weights.shape[0], 1))
    p = p.copy()

    def covered(q: np.ndarray, z: np.ndarray) -> np.ndarray:
        cum = np.concatenate([z, np.cumsum(q, axis=1)], axis=1)
        return np.maximum(cum[:, prob.b + 1] - cum[:, prob.a], 0.0)

    def loglik(q: np.ndarray, w: np.ndarray, z: np.ndarray) -> np.ndarray:
        return (w * np.log(np.maximum(covered(q, z), 1e-300))).sum(axis=1)

    def step(q: np.ndarray, w: np.ndarray, tot: np.ndarray, z: np.ndarray) -> np.ndarray:
        denom = covered(q, z)
        ratio = np.divide(w, denom, out=np.zeros_like(w), where=denom > 1e-300)
        spread = np.cumsum((diff @ ratio.T).T, axis=1)[:, :m]
        new = q * spread / tot
        return new / new.sum(axis=1, keepdims=True)

    active = np.arange(p.shape[0])
    for _ in range(max_iter):
        q = p[active]
        w, tot, z = weights[active], total[active], zero[active]
        p1 = step(q, w, tot, z)
        p2 = step(p1, w, tot, z)
        r, v = p1 - q, p2 - 2 * p1 + q
        rn, vn = np.linalg.norm(r, axis=1), np.linalg.norm(v, axis=1)
        alpha = -np.divide(rn, vn, out=np.ones_like(rn), where=vn > 0)
        alpha = np.minimum(alpha, -1.0)[:, None]
        jump = np.maximum(q - 2 * alpha * r + alpha * alpha * v, 0.0)
        jump = step(jump / jump.sum(axis=1, keepdims=True), w, tot, z)
        better = (loglik(jump, w, z) >= loglik(p2, w, z))[:, None]
        new = np.where(better, jump, p2)
        moved = np.abs(np.cumsum(new - q, axis=1)).max(axis=1)
        p[active] = new
        active = active[moved >= tol]
        if active.size == 0:
            break
    return p


def _start(prob: _Problem) -> np.ndarray:
    """Each observation's weight spread evenly over its innermost intervals."""
    share = prob.w / (prob.b - prob.a + 1)
    acc = np.bincount(prob.a, share, minlength=prob.m + 1) - np.bincount(
        prob.b + 1, share, minlength=prob.m + 1
    )
    p = np.cumsum(acc)[: prob.m]
    return (p / p.sum())[None, :]


def fit(left: np.ndarray, right: np.ndarray) -> Fit | None:
    """The NPMLE from per-notice `(left, right]` hours (see the module docstring)."""
    if np.asarray(left).size == 0:
        return None
    prob = _problem(left, right)
    p = _em(prob, prob.w[None, :], _start(prob))
    return Fit(lo=prob.lo, hi=prob.hi, p=p[0], last=prob.last, n=float(prob.w.sum()))


@dataclass(frozen=True)
class Summary:
    """What reports print from one fit, with bootstrap 95% percentile intervals."""

    median: float | None
    median_ci95: tuple[float | None, float | None] | None
    p90: float | None
    removed_within: dict[float, float | None]
    removed_within_ci95: dict[float, tuple[float | None, float | None] | None]
    fit: Fit | None = None
    resamples: np.ndarray | None = None  # bootstrap masses, one row per resample


def _percentiles(values: list[float | None]) -> tuple[float | None, float | None]:
    data = np.array([math.inf if v is None else v for v in values], dtype=np.float64)
    low, high = np.percentile(data, [2.5, 97.5], method="inverted_cdf")
    return (None if math.isinf(low) else float(low), None if math.isinf(high) else float(high))


def summarise(
    left: np.ndarray,
    right: np.ndarray,
    deadlines: Sequence[float],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Summary:
    """Median, p90 and deadline shares of the NPMLE, with bootstrap intervals (`resamples`
    resamples of the notices, drawn from a generator seeded with `seed`)."""
    if np.asarray(left).size == 0:
        none = {float(d): None for d in deadlines}
        return Summary(None, None, None, dict(none), dict(none))
    prob = _problem(left, right)
    p_hat = _em(prob, prob.w[None, :], _start(prob))
    notices = float(prob.w.sum()) if ITEM_CORRECTION else 0.0
    est = Fit(lo=prob.lo, hi=prob.hi, p=p_hat[0], last=prob.last, n=notices)
    boot = None
    if resamples > 0:
        rng = np.random.default_rng(seed)
        n = int(prob.w.sum())
        counts = rng.multinomial(n, prob.w / n, size=resamples).astype(np.float64)
        boot = _em(
            prob, counts, np.repeat(p_hat, resamples, axis=0), tol=BOOT_TOL, max_iter=BOOT_MAX_ITER
        )
    median = est.quantile(0.5)
    median_ci = (
        _percentiles(_quantile(prob.lo, prob.hi, boot, 0.5, est.n)) if boot is not None else None
    )
    within: dict[float, float | None] = {}
    within_ci: dict[float, tuple[float | None, float | None] | None] = {}
    times = np.array([float(d) for d in deadlines], dtype=np.float64)
    shares = est.cdf(times) if times.size else np.zeros(0)
    boot_shares = _cdf(prob.lo, prob.hi, boot, times) if boot is not None and times.size else None
    for i, d in enumerate(times.tolist()):
        share = float(shares[i])
        if d > est.last and share < 1.0 - 1e-9:
            within[d], within_ci[d] = None, None  # beyond every observation: not estimable
            continue
        within[d] = min(max(share, 0.0), 1.0)
        if boot_shares is None:
            within_ci[d] = None
        else:
            low, high = np.percentile(boot_shares[:, i], [2.5, 97.5])
            within_ci[d] = (float(low), float(high))
    return Summary(
        median=median,
        median_ci95=median_ci,
        p90=est.quantile(0.9),
        removed_within=within,
        removed_within_ci95=within_ci,
        fit=est,
        resamples=boot,
    )
