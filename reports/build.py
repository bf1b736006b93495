"""Build a `Report` from the store: load notices, compute statistics, gather chart data.

The cut-off of every observation is `until` when given (and earlier than `now`), else `now`:
takedowns confirmed after it do not count, items are censored at it. `now` is the generation
time (pass `monitor.core.clock.now()`).

Removal orders of the selected notices are judged as of the cut-off (reports.orders) and summed
per group. `group_by="order"` lists one row per order; its statistics are then per hoster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
from sqlite_utils import Database

from monitor.core import clock
from monitor.core.config import Config
from reports import cdn_groups, load, orders, stats, turnbull
from reports.frame import Notices, outcomes
from reports.model import REPORT_GROUP_BYS, Method, OnlineItem, Report
from reports.order_rows import summaries

TOP_CURVES = 5
STILL_ONLINE_LIMIT = 200


def _time(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return clock.to_utc(value) if value is not None else None
    return clock.parse(value)


def _still_online(
    db: Database, n: Notices, cutoff: float, group_by: str, limit: int
) -> list[OnlineItem]:
    out = outcomes(n, cutoff)
    picked = np.flatnonzero(out.online_now)
    picked = picked[np.argsort(n.noticed[picked], kind="stable")][:limit]
    codes, _keys, labels = stats.group_codes(n, group_by)
    ids = n.ids[picked].tolist()
    groups = {rid: labels[codes[i]] for rid, i in zip(ids, picked.tolist(), strict=True)}
    hours = {
        rid: float((cutoff - n.noticed[i]) / 3600.0)
        for rid, i in zip(ids, picked.tolist(), strict=True)
    }
    reappeared = {rid for rid, i in zip(ids, picked.tolist(), strict=True) if out.event[i]}
    return load.online_items(db, ids, groups, hours, reappeared)


def build_report(
    db: Database,
    config: Config,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    group_by: str = "hoster",
    hosters: Sequence[str] | None = None,
    extra_deadlines: Iterable[float] = (),
    now: datetime | str,
    still_online_limit: int = STILL_ONLINE_LIMIT,
) -> Report:
    """The availability report over notices with since <= noticed_at < until."""
    if group_by not in REPORT_GROUP_BYS:
        raise ValueError(f"group_by must be one of {', '.join(REPORT_GROUP_BYS)}")
    report_group_by, group_by = group_by, "hoster" if group_by == "order" else group_by
    generated = _time(now)
    assert generated is not None
    start, end = _time(since), _time(until)
    cutoff_dt = min(end, generated) if end is not None else generated
    cutoff = cutoff_dt.timestamp()
    deadlines = tuple(
        sorted(
            {float(d) for d in config.report.deadlines_hours} | {float(d) for d in extra_deadlines}
        )
    )
    if any(d <= 0 for d in deadlines):
        raise ValueError("deadlines must be positive hours")
    minimum = config.report.min_notices_for_rates
    n = load.notices(db, since=clock.iso(start), until=clock.iso(end), hosters=hosters)
    overall, groups = stats.compute(
        n,
        cutoff=cutoff,
        group_by=group_by,
        deadlines=deadlines,
        min_notices=minimum,
        registered_asns=load.registered_asns(db),
    )
    groups = cdn_groups.mark(db, n, groups, group_by, deadlines)  # CDN groups: never ranked
    top = [g.key for g in groups if not (g.too_few_to_rank or g.cdn)][:TOP_CURVES]
    if group_by == "month":
        trend = groups
    else:
        trend = stats.compute(
            n, cutoff=cutoff, group_by="month", deadlines=deadlines, min_notices=minimum
        )[1]
    td = config.takedown
    method = Method(
        confirm_checks=td.confirm_checks,
        confirm_span_hours=td.confirm_span.total_seconds() / 3600,
        unreachable_after_hours=td.unreachable_after.total_seconds() / 3600,
        min_notices_for_rates=minimum,
        cutoff=clock.iso(cutoff_dt) or "",
        schedule_hours=tuple(s.total_seconds() / 3600 for s in config.schedule.after_notice),
        bootstrap_resamples=turnbull.RESAMPLES,
    )
    order_rows = orders.order_rows(
        db, n, cutoff=cutoff_dt, group_by=group_by, takedown=config.takedown
    )
    return Report(
        generated_at=clock.iso(generated) or "",
        since=clock.iso(start),
        until=clock.iso(end),
        deadlines_hours=deadlines,
        group_by=report_group_by,
        overall=overall,
        groups=tuple(groups),
        orders=tuple(order_rows),
        order_summaries=summaries(order_rows),
        method=method,
        curves=tuple(
            stats.curves(n, cutoff=cutoff, group_by=group_by, top=top, min_notices=minimum)
        ),
        trend=tuple(trend),
        still_online=tuple(_still_online(db, n, cutoff, group_by, still_online_limit)),
    )
