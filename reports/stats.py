"""Per-group takedown statistics (pure): counts, interval-censored times, deadlines, extras.

Input: `Notices` (columns) and a cut-off time (the report's `until`, or its generation time).
Groups are hosters, ASNs, countries or months of noticed_at. Per group (and overall), time to
takedown from noticed_at is estimated from the interval each removal lies in (reports.turnbull:
median, p90, deadline shares, bootstrap 95% intervals); the right-endpoint Kaplan-Meier median
(time to the first down observation) is kept as `median_hours_upper`. Time from the first alert
to removal is Kaplan-Meier (see `alert_outcomes`); everything else is vectorised numpy. Groups
with fewer notices than `min_notices` get counts but no rates (`too_few_to_rank`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from reports import km, turnbull
from reports.frame import DOWN, UNCONFIRMED, Notices, Outcomes, alert_removal, intervals, outcomes
from reports.model import GROUP_BYS, Curve, GroupStats

UNATTRIBUTED = "(unattributed)"
UNKNOWN = "unknown"


def _months(noticed: np.ndarray) -> np.ndarray:
    return noticed.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)


def group_codes(n: Notices, by: str) -> tuple[np.ndarray, list[str | int | None], list[str]]:
    """(code per notice 0..k-1, key per group, label per group)."""
    if by not in GROUP_BYS:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BYS)}, not {by!r}")
    if by == "month":
        raw = _months(n.noticed)
    else:
        raw = {"hoster": n.hoster, "asn": n.asn, "country": n.country}[by]
    values, codes = np.unique(raw, return_inverse=True)
    keys: list[str | int | None] = []
    labels: list[str] = []
    for v in values.tolist():
        if by == "month":
            text = str(np.datetime64(v, "M"))
            keys.append(text)
            labels.append(text)
        elif v < 0:
            keys.append(None)
            labels.append(UNATTRIBUTED if by == "hoster" else UNKNOWN)
        elif by == "asn":
            keys.append(int(v))
            labels.append(f"AS{v}")
        else:
            name = (n.hoster_labels if by == "hoster" else n.country_labels)[v]
            keys.append(name)
            labels.append(name)
    return codes.reshape(-1), keys, labels


def _nanmedian(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else None


@dataclass(frozen=True, eq=False)
class AlertOutcomes:
    """Per notice, the Kaplan-Meier input of time from alert to removal, as of the cut-off.

    at_risk: alerted by the cut-off, checked, and not already removed when the alert went out
             (an alert naming material that was down then, and still is, says nothing about how
             fast the hoster acts on alerts). A notice removed before the alert but online
             again now (a reappearance) is at risk.
    event:   a takedown confirmed at or after the alert and by the cut-off.
    hours:   from the alert to that takedown, or else to the censoring time (the last check,
             for an unconfirmed notice its first down check, never later than the cut-off):
             alerted and still online is censored, never dropped. At least 0.
    """

    event: np.ndarray
    hours: np.ndarray
    at_risk: np.ndarray


def alert_outcomes(n: Notices, out: Outcomes, cutoff: float) -> AlertOutcomes:
    """Time from each notice's first alert to its removal, right-censored (see AlertOutcomes)."""
    with np.errstate(invalid="ignore"):
        alerted = ~np.isnan(n.alerted) & (n.alerted <= cutoff)
        removal = alert_removal(n)  # the takedown answering the alert; NaN: none since
        event = alerted & (removal <= cutoff)
        before = out.event & np.isnan(removal) & (n.state == DOWN)  # down since before it
        censor = np.where(
            (n.state == UNCONFIRMED) & ~np.isnan(n.first_down), n.first_down, n.last_checked
        )
        end = np.where(event, removal, np.fmin(censor, cutoff))
        hours = np.maximum((end - n.alerted) / 3600.0, 0.0)
    at_risk = alerted & out.at_risk & ~before & ~np.isnan(hours)
    return AlertOutcomes(event=event & at_risk, hours=np.nan_to_num(hours), at_risk=at_risk)


def _resolution(n: Notices, out: Outcomes) -> np.ndarray:
    """Per notice, the gap between last online and first down in hours (NaN where none)."""
    first_down = np.where(np.isnan(n.first_down), n.takedown, n.first_down)
    lower = np.where(np.isnan(n.last_online), n.noticed, n.last_online)
    with np.errstate(invalid="ignore"):
        gap = (first_down - lower) / 3600.0
        return np.where(out.event & (gap >= 0), gap, np.nan)


def _stats(
    n: Notices,
    out: Outcomes,
    idx: np.ndarray,
    key: str | int | None,
    label: str,
    *,
    cutoff: float,
    deadlines: Sequence[float],
    min_notices: int,
    extras: tuple[np.ndarray, AlertOutcomes, tuple[np.ndarray, np.ndarray]],
    asns: set[int],
) -> GroupStats:
    count = int(idx.size)
    taken = int(out.taken_down[idx].sum())
    online = int(out.still_online[idx].sum())
    too_few = count < min_notices
    resolution, alert, (left, right) = extras
    risk = idx[out.at_risk[idx]]
    alert_risk = idx[alert.at_risk[idx]]
    if too_few:
        risk = alert_risk = risk[:0]
    upper = km.summarise(out.hours[risk], out.event[risk], ())
    summary = turnbull.summarise(left[risk], right[risk], deadlines)
    alert_summary = km.summarise(alert.hours[alert_risk], alert.event[alert_risk], ())
    online_idx = idx[out.online_now[idx]]
    oldest = float((cutoff - n.noticed[online_idx].min()) / 3600.0) if online_idx.size else None
    seen = {int(a) for a in np.unique(n.asn[idx]) if a >= 0}
    alerted = n.alerted[idx]
    return GroupStats(
        key=key,
        label=label,
        asns=tuple(sorted(seen | asns)),
        notices=count,
        taken_down=taken,
        still_online=online,
        unresolved=count - taken - online,
        unchecked=int(out.unchecked[idx].sum()),
        too_few_to_rank=too_few,
        removed_within=summary.removed_within,
        removed_within_ci95=summary.removed_within_ci95,
        median_hours=summary.median,
        median_ci95=summary.median_ci95,
        p90_hours=summary.p90,
        resolution_hours_median=_nanmedian(resolution[idx]),
        reappearances=int(n.reappearances[idx].sum()),
        reuploads=int(n.reuploads[idx].sum()),
        reupload_notices=int(n.reupload[idx].sum()),
        moves=int(n.moves[idx].sum()),
        moved_notices=int((n.moves[idx] > 0).sum()),
        alerted=int((~np.isnan(alerted) & (alerted <= cutoff)).sum()),
        alert_to_removal_hours_median=alert_summary.median,
        oldest_online_hours=oldest,
        alert_to_removal_median_ci95=alert_summary.median_ci95,
        median_hours_upper=upper.median,
    )


def _rank_key(g: GroupStats, last: float | None) -> tuple:
    share = g.removed_within.get(last) if last is not None else None
    median = g.median_hours if g.median_hours is not None else float("inf")
    return (median, -(share or 0.0), -g.notices, g.label)


def rank(
    groups: Sequence[GroupStats], group_by: str, deadlines: Sequence[float]
) -> list[GroupStats]:
    """Months in time order; otherwise rankable groups by median time to takedown (shortest
    first, not-reached last), then the share removed by the last deadline; then the groups
    with too few notices and the CDN groups (never ranked as hosters), largest first. Ranks
    count rankable groups only."""
    if group_by == "month":
        return sorted(groups, key=lambda g: str(g.key))
    last = max(deadlines) if deadlines else None
    rankable = sorted(
        (g for g in groups if not (g.too_few_to_rank or g.cdn)), key=lambda g: _rank_key(g, last)
    )
    rest = sorted(
        (g for g in groups if g.too_few_to_rank or g.cdn), key=lambda g: (-g.notices, g.label)
    )
    return [replace(g, rank=i + 1) for i, g in enumerate(rankable)] + list(rest)


def compute(
    n: Notices,
    *,
    cutoff: float,
    group_by: str = "hoster",
    deadlines: Sequence[float] = (1, 12, 24, 48),
    min_notices: int = 10,
    registered_asns: Mapping[str, set[int]] | None = None,
) -> tuple[GroupStats, list[GroupStats]]:
    """(overall, ranked groups) as of `cutoff` (epoch seconds)."""
    out = outcomes(n, cutoff)
    extras = (_resolution(n, out), alert_outcomes(n, out, cutoff), intervals(n, out, cutoff))
    common: dict[str, Any] = dict(
        cutoff=cutoff, deadlines=tuple(deadlines), min_notices=min_notices, extras=extras
    )
    codes, keys, labels = group_codes(n, group_by)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    registered = registered_asns or {}
    groups = []
    for g, (key, label) in enumerate(zip(keys, labels, strict=True)):
        idx = order[bounds[g] : bounds[g + 1]]
        extra = registered.get(label, set()) if group_by == "hoster" else set()
        groups.append(_stats(n, out, idx, key, label, asns=extra, **common))
    overall = _stats(n, out, np.arange(len(n)), "all", "All notices", asns=set(), **common)
    return overall, rank(groups, group_by, deadlines)


def _curve(left: np.ndarray, right: np.ndarray, label: str, *, points: int = 300) -> Curve | None:
    """The estimated share still online over hours since notice, sampled at about `points`
    times (the Turnbull interval ends, thinned), with a pointwise bootstrap 95% band."""
    summary = turnbull.summarise(left, right, ())
    fit, boot = summary.fit, summary.resamples
    if fit is None:
        return None
    ends = np.unique(np.concatenate([fit.lo, fit.hi]))
    ends = ends[np.isfinite(ends)]
    if ends.size > points:
        ends = np.linspace(0.0, float(ends[-1]), points)
    surviving = 1.0 - fit.cdf(ends)
    if boot is not None:
        band = 1.0 - turnbull.cdf_rows(fit, boot, ends)
        low, high = np.percentile(band, [2.5, 97.5], axis=0)
    else:
        low = high = surviving

    def tup(a: np.ndarray) -> tuple[float, ...]:
        return tuple(float(round(x, 4)) for x in a)

    return Curve(
        label=label, hours=tup(ends), surviving=tup(surviving), lower=tup(low), upper=tup(high)
    )


def curves(
    n: Notices,
    *,
    cutoff: float,
    group_by: str,
    top: Sequence[str | int | None],
    min_notices: int = 10,
) -> list[Curve]:
    """Survival curves (the interval-censored estimate): overall first, then the groups whose
    keys are in `top`."""
    out = outcomes(n, cutoff)
    left, right = intervals(n, out, cutoff)
    result = []
    first = _curve(left[out.at_risk], right[out.at_risk], "All notices")
    if first is not None:
        result.append(first)
    codes, keys, labels = group_codes(n, group_by)
    for key in top:
        if key not in keys:
            continue
        g = keys.index(key)
        mask = (codes == g) & out.at_risk
        if int((codes == g).sum()) < min_notices:
            continue
        c = _curve(left[mask], right[mask], labels[g])
        if c is not None:
            result.append(c)
    return result
