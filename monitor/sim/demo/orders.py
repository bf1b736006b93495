"""The demo's removal orders: issued to the slowest hosters, judged, and checked against truth.

At `issue_at` (day 2 of the run, or 40% of a shorter one) the demo, as a supervisor would,
orders removal of every report of the three slowest hosters (by the world's true median time
to removal) that the monitor then sees online, alternating 1 h and 24 h deadlines; the orders go
in through `import orders` (a CSV file beside the world's other import files). At the end each
order is judged from its checks (monitor.core.compliance) and compared with what the world did:

- the truth (`true_state`) follows the world's script at every instant after the deadline up
  to the end: removed by the deadline and never served again: complied; served at or after the
  deadline and removed for good by the end: late (by the final removal); else not complied.
- `unverifiable` is right only where the world itself blocked or failed at a check around the
  deadline (a noisy hoster's 401/403/429/5xx while serving, or a removal that resets, stalls or
  overflows): `blocked_around`.
- where the verdict differs from that truth but equals the verdict the checks' own times allow
  (`sampled_state`: the world's script at each check time), the world changed between two
  checks (material back for a day between the weekly reappearance checks): shown as
  `not observable`, not a misclassification. Anything else is: the demo then exits 1.
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.core import clock
from monitor.core.classify import Outcome
from monitor.core.compliance import Compliance, ComplianceState, judge
from monitor.core.timeline import Observation
from monitor.core.urls import clean, key
from monitor.intake.orders import import_orders
from monitor.sim.plan import ONLINE, Item, Plan, noise_hit, phase_at

DEADLINES = (timedelta(hours=1), timedelta(hours=24))
ISSUE_DAY = 2.0
SLOWEST = 3
AROUND = timedelta(hours=1)  # the order's follow-up checks reach this far
FAILING = frozenset({"reset", "slow", "oversize", "bomb"})  # removal that reads unreachable
S = ComplianceState


def issue_time(start: datetime, days: float) -> datetime:
    return start + timedelta(days=min(ISSUE_DAY, 0.4 * days))


def slowest_hosters(plan: Plan, n: int = SLOWEST) -> list[str]:
    """The `n` hosters with the longest true median time to removal (never removed: longest)."""
    hours: dict[str, list[float]] = {}
    for item in plan.reports():
        h = (
            math.inf
            if item.removal_at is None
            else (item.removal_at - item.noticed_at).total_seconds()  # type: ignore[operator]
        )
        hours.setdefault(item.hoster, []).append(h)
    ranked = sorted(hours, key=lambda name: (-statistics.median_low(hours[name]), name))
    return ranked[:n]


@dataclass
class IssuedOrder:
    order_id: str
    item: Item
    report_id: int
    deadline_at: datetime
    measured: Compliance | None = None
    truth: str = ""
    true_lateness: float | None = None  # hours, truth late only
    sampled: str = ""
    sampled_lateness: float | None = None  # hours, the checks' own times' verdict
    verdict: str = ""  # ok | unverifiable (world blocked) |
    # not observable | WRONG


@dataclass
class OrderTally:
    issued_at: datetime | None = None
    hosters: list[str] = field(default_factory=list)
    orders: list[IssuedOrder] = field(default_factory=list)

    @property
    def misclassified(self) -> list[IssuedOrder]:
        return [o for o in self.orders if o.verdict == "WRONG"]


class OrderIssuer:
    """Called at every clock step (monitor.sim.demo.run's on_step): issues the orders once, at the
    first step at or after `issue_at`."""

    def __init__(
        self, db: Any, world: Any, config: Any, issue_at: datetime, directory: Path
    ) -> None:
        self.db, self.world, self.config = db, world, config
        self.issue_at, self.directory = issue_at, directory
        self.tally = OrderTally(hosters=slowest_hosters(world.plan))

    def __call__(self, when: datetime) -> None:
        if self.tally.issued_at is not None or when < self.issue_at:
            return

        self.tally.issued_at = when
        items = {
            key(clean(self.world.url(i))): i
            for i in self.world.plan.reports()
            if i.hoster in self.tally.hosters
        }
        online = self.db.execute(
            "SELECT id, url_key FROM reports WHERE kind = 'report' AND state = 'online' ORDER BY id"
        ).fetchall()
        rows = [["url", "order_id", "issued_at", "deadline", "authority"]]
        for n, (rid, url_key) in enumerate(r for r in online if r[1] in items):
            item = items[url_key]
            deadline = DEADLINES[n % len(DEADLINES)]
            order_id = f"DEMO-{n + 1:03d}"
            rows.append(
                [
                    self.world.url(item),
                    order_id,
                    clock.iso(when),
                    f"{int(deadline.total_seconds() // 3600)}h",
                    "Demo Authority",
                ]
            )
            self.tally.orders.append(IssuedOrder(order_id, item, rid, when + deadline))
        path = self.directory / "orders.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)
        result = import_orders(self.db, path, self.config)
        if not result.ok or result.added != len(self.tally.orders):
            raise RuntimeError(f"demo orders did not import: {result.errors[:3]}")


def _online_at(item: Item, t: datetime) -> bool:
    return phase_at(item, t) == ONLINE


def true_state(item: Item, deadline: datetime, end: datetime) -> tuple[str, float | None]:
    """What the world did about the order: (state, true lateness in hours, late only)."""
    episodes = [(item.noticed_at or item.reported_at, item.removal_at)]  # online [from, to)
    if item.removal_at is not None and item.reappear_at is not None:
        episodes.append((item.reappear_at, item.reappear_until))
    after = [
        (a, b) for a, b in episodes if a is not None and a <= end and (b is None or b > deadline)
    ]
    if not after:
        return S.COMPLIED.value, None
    last_end = after[-1][1]
    if last_end is None or last_end > end:
        return S.NOT_COMPLIED.value, None
    return S.LATE.value, (last_end - deadline).total_seconds() / 3600


def _world_outcome(item: Item, t: datetime, rate: float) -> Outcome:
    phase = phase_at(item, t)
    if phase == ONLINE:
        noise = noise_hit(item, t, rate)
        if noise is None:
            return Outcome.ONLINE
        return Outcome.UNREACHABLE if noise >= 500 else Outcome.BLOCKED
    if phase in FAILING:
        return Outcome.UNREACHABLE
    return Outcome.DNS_GONE if phase == "dns_gone" else Outcome.REMOVED


def blocked_around(item: Item, deadline: datetime, times: list[datetime], rate: float) -> bool:
    """Whether the world blocked or failed at a check in [deadline, deadline + AROUND]."""
    return any(
        _world_outcome(item, t, rate) in (Outcome.BLOCKED, Outcome.UNREACHABLE)
        for t in times
        if deadline <= t <= deadline + AROUND
    )


def judge_orders(db: Any, world: Any, config: Any, tally: OrderTally, end: datetime) -> None:
    """Measured verdict, truth and agreement of every issued order (see the module docstring)."""
    stamp = clock.iso(end)
    for order in tally.orders:
        rows = db.execute(
            "SELECT checked_at, outcome, reason FROM checks WHERE report_id = ? "
            "AND checked_at <= ?",
            [order.report_id, stamp],
        ).fetchall()
        observed = [Observation(clock.parse(t), Outcome(o), r) for t, o, r in rows]
        order.measured = judge(order.deadline_at, observed, config.takedown)
        order.truth, order.true_lateness = true_state(order.item, order.deadline_at, end)
        rate = world.plan.hoster(order.item.hoster).noise_rate
        times = [o.checked_at for o in observed]
        sampled = judge(
            order.deadline_at,
            [Observation(t, _world_outcome(order.item, t, rate), "world") for t in times],
            config.takedown,
        )
        order.sampled, order.sampled_lateness = sampled.state.value, sampled.lateness_hours
        order.verdict = _verdict(order, times, rate)


def _verdict(order: IssuedOrder, times: list[datetime], rate: float) -> str:
    measured = order.measured
    assert measured is not None
    state = measured.state.value
    if state == order.truth:
        if state != S.LATE.value or order.true_lateness is None:
            return "ok"
        low, high = measured.lateness_low_hours, measured.lateness_hours
        if low is not None and high is not None and low < order.true_lateness <= high:
            return "ok"
        return "not observable" if high == order.sampled_lateness else "WRONG"
    if state == S.UNVERIFIABLE.value and blocked_around(order.item, order.deadline_at, times, rate):
        return "unverifiable (world blocked)"
    if state == order.sampled:
        return "not observable"
    return "WRONG"
