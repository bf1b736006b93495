"""The report's removal orders: each order's compliance as of the cut-off, summed per group.

`order_rows(db, n, cutoff, group_by, takedown)` reads the orders of the selected notices and
those reports' checks up to the cut-off (one query each, in chunks), judges every order with
monitor.core.compliance, and labels it with its hoster and its report group; `summaries(rows)`
(reports.order_rows) counts them per group.
An order whose deadline is after the cut-off is `pending`. A database not yet migrated to
the `orders` table (opened read-only) has no orders.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlite_utils import Database

from monitor.core import clock
from monitor.core.classify import Outcome
from monitor.core.compliance import judge
from monitor.core.config import TakedownConfig
from monitor.core.timeline import Observation
from reports import stats
from reports.frame import Notices
from reports.order_rows import OrderRow

CHUNK = 500
_OUTCOMES = {o.value: o for o in Outcome}


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _labels(n: Notices, by: str) -> dict[int, str]:
    codes, _keys, labels = stats.group_codes(n, by)
    return {int(rid): labels[c] for rid, c in zip(n.ids.tolist(), codes.tolist(), strict=True)}


def _keys(n: Notices, by: str) -> dict[int, str | int | None]:
    codes, keys, _labels = stats.group_codes(n, by)
    return {int(rid): keys[c] for rid, c in zip(n.ids.tolist(), codes.tolist(), strict=True)}


def order_rows(
    db: Database, n: Notices, *, cutoff: datetime, group_by: str, takedown: TakedownConfig
) -> list[OrderRow]:
    """Every order of the selected notices, judged on the checks up to `cutoff`, in
    (deadline, order_id, report id) order."""
    if not db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'orders'"
    ).fetchone():
        return []  # a read-only database from before migration m006
    selected = set(n.ids.tolist())
    found = []
    for chunk in _chunks(sorted(selected)):
        marks = ",".join("?" * len(chunk))
        found += db.execute(
            f"SELECT o.order_id, o.authority, o.report_id, o.issued_at, o.deadline_at, r.url "
            f"FROM orders o JOIN reports r ON r.id = o.report_id "
            f"WHERE o.report_id IN ({marks})",
            chunk,
        ).fetchall()
    if not found:
        return []
    stamp = clock.iso(cutoff)
    checks: dict[int, list[Observation]] = {}
    for chunk in _chunks(sorted({row[2] for row in found})):
        marks = ",".join("?" * len(chunk))
        for rid, at, outcome, reason in db.execute(
            f"SELECT report_id, checked_at, outcome, reason FROM checks "
            f"WHERE report_id IN ({marks}) AND checked_at <= ?",
            [*chunk, stamp],
        ):
            checks.setdefault(rid, []).append(
                Observation(clock.parse(at), _OUTCOMES[outcome], reason)
            )
    hosters = _labels(n, "hoster")
    groups = _keys(n, "hoster" if group_by == "order" else group_by)
    rows = []
    for order_id, authority, rid, issued, deadline, url in found:
        verdict = judge(clock.parse(deadline), checks.get(rid, ()), takedown)
        rows.append(
            OrderRow(
                order_id=order_id,
                authority=authority,
                report_id=rid,
                hoster=hosters[rid],
                group=groups[rid],
                url=url,
                issued_at=issued,
                deadline_at=deadline,
                state=verdict.state.value,
                lateness_hours=verdict.lateness_hours,
                lateness_low_hours=verdict.lateness_low_hours,
                first_down_at=clock.iso(verdict.first_down_at),
                last_online_at=clock.iso(verdict.last_online_at),
                reason=verdict.reason,
            )
        )
    rows.sort(key=lambda r: (r.deadline_at, r.order_id, r.report_id))
    return rows
