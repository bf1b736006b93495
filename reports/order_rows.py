"""The report's removal orders as data: one `OrderRow` per order and report, judged as of the
report's cut-off (monitor.core.compliance), and `OrderSummary`, the orders of a group counted per
compliance state with the median lateness (the upper bound: takedown - deadline). Pure; the
store reading is reports.orders.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.core.compliance import ComplianceState


def _num(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


ORDER_STATES = ("complied", "late", "not_complied", "unverifiable", "pending")


@dataclass(frozen=True)
class OrderRow:
    """One removal order for one report, judged as of the cut-off (monitor.core.compliance).

    `group` is the key of the report's group (its hoster for `--group-by order`); `url` is the
    full URL: renderers redact it (JSON and CSV always, HTML and Markdown unless show_urls)."""

    order_id: str
    authority: str | None
    report_id: int
    hoster: str
    group: str | int | None
    url: str
    issued_at: str
    deadline_at: str
    state: str
    lateness_hours: float | None = None  # late: takedown - deadline (upper bound)
    lateness_low_hours: float | None = None  # late: last online - deadline (lower bound)
    first_down_at: str | None = None
    last_online_at: str | None = None
    reason: str = ""

    def to_dict(self, redacted_url: str) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "authority": self.authority,
            "hoster": self.hoster,
            "report_id": self.report_id,
            "url": redacted_url,
            "issued_at": self.issued_at,
            "deadline_at": self.deadline_at,
            "state": self.state,
            "lateness_hours": _num(self.lateness_hours, 2),
            "lateness_resolution_hours": (
                None
                if self.lateness_hours is None
                else [_num(self.lateness_low_hours, 2), _num(self.lateness_hours, 2)]
            ),
            "last_online_at": self.last_online_at,
            "first_down_at": self.first_down_at,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class OrderSummary:
    """The orders of one group: how many, per compliance state, and the median lateness."""

    orders: int = 0
    complied: int = 0
    late: int = 0
    not_complied: int = 0
    unverifiable: int = 0
    pending: int = 0
    lateness_hours_median: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "complied": self.complied,
            "late": self.late,
            "not_complied": self.not_complied,
            "unverifiable": self.unverifiable,
            "pending": self.pending,
            "lateness_hours_median": _num(self.lateness_hours_median, 2),
        }


NO_ORDERS = OrderSummary()


def summarize(rows: Iterable[OrderRow]) -> OrderSummary:
    rows = list(rows)
    counts = {s.value: sum(r.state == s.value for r in rows) for s in ComplianceState}
    late = [r.lateness_hours for r in rows if r.lateness_hours is not None]
    return OrderSummary(
        orders=len(rows),
        complied=counts["complied"],
        late=counts["late"],
        not_complied=counts["not_complied"],
        unverifiable=counts["unverifiable"],
        pending=counts["pending"],
        lateness_hours_median=statistics.median(late) if late else None,
    )


def summaries(rows: Iterable[OrderRow]) -> dict[str | int | None, OrderSummary]:
    """Per report group key (hoster, ASN, country or month; hoster for `--group-by order`)."""
    by: dict[str | int | None, list[OrderRow]] = {}
    for row in rows:
        by.setdefault(row.group, []).append(row)
    return {key: summarize(group) for key, group in by.items()}
