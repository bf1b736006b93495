"""Compliance with a removal order: what a report's checks say about one deadline (pure).

`judge(deadline_at, observations, cfg)` returns a frozen `Compliance`. The states, decided in
this order from the report's checks (timeline.Observation, any order; sorted here):

- `late`: the material was seen `online` at or after the deadline, and after its last online
  observation a takedown is confirmed (monitor.core.timeline's rules, `[takedown]` config: the down
  rule, or the unreachable rule). Lateness is `takedown - deadline`; the true removal lies in
  `(last online, takedown]`, so lateness lies in `(last online - deadline, takedown -
  deadline]` (`lateness_low`, `lateness`). A reappearance after the deadline counts: material
  online after the deadline was not kept down, whenever that was.
- `not_complied`: seen `online` at or after the deadline, and no down observation since the
  last online one (still online as far as the checks can tell).
- `pending`: nothing can be said yet: no check at or after the deadline (the deadline has not
  passed, or its slot has not been checked yet), or the material was down by the deadline but
  the takedown rule has not confirmed it yet (the deadline + 1 h check confirms it), or it was
  online after the deadline and is down since, not yet confirmed (late once confirmed: a
  supervisor must not read "still online" where the latest check says removed).
- `complied`: no `online` observation at or after the deadline, a down observation
  (`removed`/`dns_gone`) at or before the deadline (+ `grace`, see below), confirmed by the down
  rule (`confirm_checks` down checks, the first and latest `confirm_span` apart, `unreachable`
  and `blocked` checks in between neutral) within the stretch of non-online checks that holds
  the deadline.
- `unverifiable`: checked after the deadline, never seen online since, but no down observation
  by the deadline either: only `blocked`/`unreachable` around it (a server that answers 403 or
  times out may still serve the material to others; 48 h of failures confirm a takedown for
  the availability report, not compliance with a deadline), or the first down observation came
  after the deadline with no check between (the removal lies in `(last online, first down]`,
  which straddles the deadline).

`grace` (default `GRACE`, 30 s): a check fills its slot a few seconds after the slot's time
(the crawl has to reach it), so a down observation up to `grace` after the deadline counts as
"by the deadline". Online observations get no grace: online at the deadline second is late.
A state is as of the checks so far: a later online check turns `complied` into `late` or
`not_complied`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from monitor.core.classify import DOWN, Outcome
from monitor.core.clock import iso as _iso
from monitor.core.config import TakedownConfig
from monitor.core.timeline import DEFAULT, State, build

GRACE = timedelta(seconds=30)


class ComplianceState(StrEnum):
    PENDING = "pending"
    COMPLIED = "complied"
    LATE = "late"
    NOT_COMPLIED = "not_complied"
    UNVERIFIABLE = "unverifiable"


STATES = tuple(ComplianceState)


@dataclass(frozen=True, slots=True)
class Compliance:
    """One order's verdict. Times are the observations it rests on."""

    state: ComplianceState
    deadline_at: datetime
    reason: str
    last_online_at: datetime | None = None  # latest online check (any time)
    first_down_at: datetime | None = None  # the down observation the verdict rests on
    lateness: timedelta | None = None  # late: takedown - deadline (upper bound)
    lateness_low: timedelta | None = None  # late: last online - deadline (lower bound)

    @property
    def lateness_hours(self) -> float | None:
        return None if self.lateness is None else self.lateness.total_seconds() / 3600

    @property
    def lateness_low_hours(self) -> float | None:
        return None if self.lateness_low is None else self.lateness_low.total_seconds() / 3600


def _outcome(value: Outcome | str) -> Outcome:
    return value if type(value) is Outcome else Outcome(value)


def judge(
    deadline_at: datetime,
    observations: Iterable,
    cfg: TakedownConfig = DEFAULT,
    *,
    grace: timedelta = GRACE,
) -> Compliance:
    """The compliance of one order with deadline `deadline_at` (see the module docstring)."""
    obs = sorted(observations, key=lambda o: o.checked_at)
    online = [o.checked_at for o in obs if _outcome(o.outcome) is Outcome.ONLINE]
    last_online = online[-1] if online else None
    if last_online is not None and last_online >= deadline_at:
        tail = [o for o in obs if o.checked_at > last_online]
        t = build(last_online, tail, cfg)
        if t.state is State.DOWN and t.takedown_at is not None:
            return Compliance(
                ComplianceState.LATE,
                deadline_at,
                f"online at {_iso(last_online)} after the deadline, taken down "
                f"by {_iso(t.takedown_at)}",
                last_online,
                t.takedown_at,
                t.takedown_at - deadline_at,
                last_online - deadline_at,
            )
        down_since = [o.checked_at for o in tail if _outcome(o.outcome) in DOWN]
        if down_since:  # not "still online": its latest sign is a removal, not confirmed yet
            return Compliance(
                ComplianceState.PENDING,
                deadline_at,
                f"online at {_iso(last_online)} after the deadline, down at "
                f"{_iso(down_since[0])} but not yet confirmed: late once "
                "confirmed",
                last_online,
                down_since[0],
            )
        return Compliance(
            ComplianceState.NOT_COMPLIED,
            deadline_at,
            f"online at {_iso(last_online)}, after the deadline; no down observation since",
            last_online,
        )
    if not obs or obs[-1].checked_at < deadline_at:
        return Compliance(
            ComplianceState.PENDING,
            deadline_at,
            "no check at or after the deadline yet",
            last_online,
        )
    stretch = [o for o in obs if last_online is None or o.checked_at > last_online]
    downs = [o.checked_at for o in stretch if _outcome(o.outcome) in DOWN]
    if downs and downs[0] <= deadline_at + grace:
        need = max(1, cfg.confirm_checks)
        if len(downs) >= need and downs[-1] - downs[0] >= cfg.confirm_span:
            return Compliance(
                ComplianceState.COMPLIED,
                deadline_at,
                f"down at {_iso(downs[0])}, confirmed by {_iso(downs[-1])}; not online since",
                last_online,
                downs[0],
            )
        return Compliance(
            ComplianceState.PENDING,
            deadline_at,
            f"down at {_iso(downs[0])}, not yet confirmed",
            last_online,
            downs[0],
        )
    if downs:
        return Compliance(
            ComplianceState.UNVERIFIABLE,
            deadline_at,
            f"first down at {_iso(downs[0])}, after the deadline, last online "
            f"{_iso(last_online) or 'never seen'}: the removal may lie on either "
            "side of the deadline",
            last_online,
            downs[0],
        )
    return Compliance(
        ComplianceState.UNVERIFIABLE,
        deadline_at,
        "only blocked or unreachable since the deadline",
        last_online,
    )
