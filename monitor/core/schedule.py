"""Schedule: when a report is due for its next check (pure; DESIGN.md `[schedule]`).

A report's checks fill *slots*: deterministic datetimes computed from `noticed_at`, the
configuration and the timeline, never from the wall clock. A slot is the `due_at` of the check
that fills it, and the store keeps `UNIQUE(report_id, due_at)`, so a crawl that is interrupted and
rerun computes the same slot again and can never record a check twice.

The slots of a report, by its timeline:
- not confirmed down (`unchecked`, `online`, `unconfirmed`): `noticed_at + after_notice[i]`,
  then, once those are exhausted, every `while_online` after the last of them (a grid
  `L + k * while_online`, k >= 1, where L is the last after-notice slot, or `noticed_at` when
  there is none). A `while_online` of zero means no checks after the after-notice slots.
- confirmed down (`down`): `takedown_at + after_takedown[i]` only, looking for a reappearance.
  The remaining after-notice slots are dropped: a confirmed takedown needs no more confirming.
  When they are used up the report is done: `None`.
- reappeared (`online`/`unconfirmed` after at least one confirmed takedown): back on
  `while_online` checking at once: the same grid through L, extended back to `noticed_at`,
  merged with any remaining after-notice slots.
- A report that is never confirmed down (online for months, or only ever `blocked`) keeps its
  `while_online` checks for ever: only a confirmed takedown ends a schedule.

Late crawls: when the clock is past several slots (a crawl did not run for a while), the missed
slots are *not* replayed one by one. `due_slot()` collapses them into one check now, filling the
latest slot `<= now`; the skipped slots are simply never recorded. That keeps one check per
crawl per report, and the recorded `due_at` still belongs to the deterministic slot set.

Removal orders (monitor.intake.orders) add slots of their own: `order_slots(deadlines)` gives,
per deadline, the deadline itself and `ORDER_FOLLOW_UPS` after it (+1 min, +10 min, +1 h), whole
seconds. They come in as data (`extra=`, sorted) and are merged into every state's slot set, a
`down` report's and a finished one's too: an order needs evidence around its deadline whatever
the notice schedule says. Late crawls collapse them like any other slots.

Slots are whole seconds (the store's time format): `noticed_at` and `takedown_at` are rounded up
to the second and offsets are rounded to whole seconds.

Randomised phases (`key`, the report id): checks at the same offsets for every notice measure
every takedown to the same grid, so a removal time can never be told more precisely than the gap
between two offsets, however many notices there are. With a `key`, each after-notice offset moves
to a point of its own window, drawn from a hash of the key and the offset's index (so reruns
agree): toward a neighbouring offset that moves too, the window reaches `PHASE_FRACTION` of the
gap (0.5: the windows meet halfway), toward one that does not move it reaches up to that check.
Fixed, never moved: the first offset, the last one (the anchor of the `while_online` grid) and
offsets at `EXACT_HOURS` (the report's legal deadlines: the share removed within a deadline stays
exactly measured). A check never passes its neighbours, so a report gets exactly as many checks
as without phases, in the same order. Without a `key`, or with `PHASE_FRACTION` 0 (the default,
see there for why), the grid is unchanged.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from monitor.core.config import ScheduleConfig
from monitor.core.timeline import State, Timeline

__all__ = [
    "EXACT_HOURS",
    "ORDER_FOLLOW_UPS",
    "PHASE_FRACTION",
    "ScheduleConfig",
    "due_slot",
    "first_check",
    "last_slot_at_or_before",
    "next_check",
    "order_slots",
    "phased",
    "slots_between",
]

_UNCHECKED = Timeline()
# checks that never move: the report's default deadlines_hours (DESIGN.md [report])
EXACT_HOURS = (1.0, 12.0, 24.0, 48.0)
# of the gap toward a moving neighbour (at most 0.5: order is kept). 0: off, the default, as
# measured by bench/bench_precision.py: on the demo's world the interval estimator is about
# twice as close to the truth on the shared grid (it interpolates within each gap) as with
# phases (Turnbull's estimate converges slowly, at n^(1/3), when every notice's intervals differ)
PHASE_FRACTION = 0.0
Key = int | str | None
# an order's checks after its deadline (the deadline itself is checked too): the +1 h check
# lets a down observation at the deadline meet the default confirmation span
ORDER_FOLLOW_UPS = (timedelta(0), timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))
Extra = tuple[datetime, ...]


def order_slots(deadlines: Iterable[datetime]) -> Extra:
    """The sorted, unique slots of orders with these deadlines (whole seconds, rounded up)."""
    return tuple(sorted({_ceil(d) + o for d in deadlines for o in ORDER_FOLLOW_UPS}))


def _sec(delta: timedelta) -> timedelta:
    return timedelta(seconds=round(delta.total_seconds()))


def _ceil(when: datetime) -> datetime:
    """Up to the whole second (so no slot is ever before `noticed_at`)."""
    return when if not when.microsecond else when.replace(microsecond=0) + timedelta(seconds=1)


@lru_cache(maxsize=16)
def _offsets(
    cfg: ScheduleConfig,
) -> tuple[tuple[timedelta, ...], tuple[timedelta, ...], timedelta | None]:
    """(after_notice, after_takedown) sorted, unique, whole seconds; the grid step or None."""
    step = _sec(cfg.while_online)
    return (
        tuple(sorted({_sec(o) for o in cfg.after_notice})),
        tuple(sorted({_sec(o) for o in cfg.after_takedown})),
        step if step > timedelta(0) else None,
    )


def _unit(key: Key, index: int) -> float:
    """A number in [0, 1) from the key and an offset's index, the same on every run."""
    digest = hashlib.blake2b(f"{key}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def phased(
    offsets: tuple[timedelta, ...], key: Key, fraction: float | None = None
) -> tuple[timedelta, ...]:
    """The after-notice offsets of the report `key` (sorted, whole seconds; see the module
    docstring). `key=None` or a `fraction` (default `PHASE_FRACTION`) of 0: unchanged."""
    return _phased(offsets, key, PHASE_FRACTION if fraction is None else fraction)


@lru_cache(maxsize=4096)
def _phased(offsets: tuple[timedelta, ...], key: Key, fraction: float) -> tuple[timedelta, ...]:
    if key is None or fraction <= 0 or len(offsets) < 3:
        return offsets
    fraction = min(fraction, 0.5)
    exact = {timedelta(hours=h) for h in EXACT_HOURS}
    fixed = [i == 0 or i == len(offsets) - 1 or o in exact for i, o in enumerate(offsets)]
    out = [offsets[0]]
    second = timedelta(seconds=1)
    for i in range(1, len(offsets)):
        o = offsets[i]
        if fixed[i]:
            out.append(o)
            continue
        before, after = o - offsets[i - 1], offsets[i + 1] - o
        # toward a check that moves too: `fraction` of the gap (the windows meet at 0.5);
        # toward one that never moves: twice that, short of it by a second
        low = o - (before * 2 * fraction - second if fixed[i - 1] else before * fraction)
        high = o + (after * 2 * fraction - second if fixed[i + 1] else after * fraction)
        out.append(_sec(low + (high - low) * _unit(key, i)))
    if any(b <= a for a, b in zip(out, out[1:], strict=False)):
        return offsets  # offsets a second or two apart: rounding could merge two checks
    return tuple(out)


class _Plan:
    """The slot set of one report: `base + offsets[i]` plus an optional arithmetic grid
    `anchor + k * step`, k >= kmin."""

    __slots__ = ("base", "offsets", "anchor", "step", "kmin", "extra")

    def __init__(
        self,
        noticed_at: datetime,
        timeline: Timeline,
        cfg: ScheduleConfig,
        key: Key = None,
        extra: Extra = (),
    ) -> None:
        self.extra = extra  # sorted absolute slots (orders), merged into the set
        notice = _ceil(noticed_at)
        after_notice, after_takedown, step = _offsets(cfg)
        after_notice = phased(after_notice, key)
        self.step: timedelta | None = None
        self.anchor = notice
        self.kmin = 1
        if timeline.state is State.DOWN and timeline.takedown_at is not None:
            self.base = max(_ceil(timeline.takedown_at), notice)
            self.offsets = after_takedown
            return
        self.base, self.offsets = notice, after_notice
        if step is None:
            return
        self.step = step
        self.anchor = notice + after_notice[-1] if after_notice else notice
        if timeline.reappearances > 0:
            # every grid point strictly after noticed_at
            self.kmin = (notice - self.anchor) // step + 1

    def first_after(self, after: datetime | None) -> datetime | None:
        """The earliest slot strictly after `after` (the first slot when None)."""
        offs = self.offsets
        i = 0 if after is None else bisect.bisect_right(offs, after - self.base)
        best = self.base + offs[i] if i < len(offs) else None
        if self.step is not None:
            k = self.kmin
            if after is not None:
                k = max(k, (after - self.anchor) // self.step + 1)
            grid = self.anchor + k * self.step
            best = grid if best is None else min(best, grid)
        if self.extra:
            j = 0 if after is None else bisect.bisect_right(self.extra, after)
            if j < len(self.extra):
                best = self.extra[j] if best is None else min(best, self.extra[j])
        return best

    def last_at_or_before(self, now: datetime) -> datetime | None:
        """The latest slot `<= now`."""
        i = bisect.bisect_right(self.offsets, now - self.base)
        best = self.base + self.offsets[i - 1] if i else None
        if self.step is not None:
            k = (now - self.anchor) // self.step
            if k >= self.kmin:
                grid = self.anchor + k * self.step
                best = grid if best is None else max(best, grid)
        if self.extra:
            j = bisect.bisect_right(self.extra, now)
            if j:
                best = self.extra[j - 1] if best is None else max(best, self.extra[j - 1])
        return best


def first_check(noticed_at: datetime, cfg: ScheduleConfig, *, key: Key = None) -> datetime | None:
    """The first slot of a report noticed at `noticed_at` (nothing checked yet; the first
    offset never moves, so this is the same with or without `key`)."""
    return _Plan(noticed_at, _UNCHECKED, cfg, key).first_after(None)


def last_slot_at_or_before(
    noticed_at: datetime, cfg: ScheduleConfig, when: datetime, *, key: Key = None
) -> datetime | None:
    """The latest slot <= `when` of a report that was never confirmed down."""
    return _Plan(noticed_at, _UNCHECKED, cfg, key).last_at_or_before(when)


def next_check(
    noticed_at: datetime,
    timeline: Timeline,
    cfg: ScheduleConfig,
    *,
    last_due_at: datetime | None,
    key: Key = None,
    extra: Extra = (),
) -> datetime | None:
    """The next slot strictly after `last_due_at` (the first slot when None); None: done.
    `extra`: order slots (`order_slots()`), merged in."""
    return _Plan(noticed_at, timeline, cfg, key, extra).first_after(last_due_at)


def due_slot(
    noticed_at: datetime,
    timeline: Timeline,
    cfg: ScheduleConfig,
    *,
    last_due_at: datetime | None,
    now: datetime,
    key: Key = None,
    extra: Extra = (),
) -> datetime | None:
    """The slot to fill now: the latest slot in `(last_due_at, now]`, or None if none is due.

    Missed slots collapse into this one check (see the module docstring).
    """
    slot = _Plan(noticed_at, timeline, cfg, key, extra).last_at_or_before(now)
    if slot is None or (last_due_at is not None and slot <= last_due_at):
        return None
    return slot


def slots_between(
    noticed_at: datetime,
    timeline: Timeline,
    cfg: ScheduleConfig,
    *,
    after: datetime | None,
    until: datetime,
    limit: int = 10_000,
    key: Key = None,
    extra: Extra = (),
) -> list[datetime]:
    """Every slot in `(after, until]` for this timeline (at most `limit`): for `schedule` views
    and simulations."""
    plan = _Plan(noticed_at, timeline, cfg, key, extra)
    out: list[datetime] = []
    slot = plan.first_after(after)
    while slot is not None and slot <= until and len(out) < limit:
        out.append(slot)
        slot = plan.first_after(slot)
    return out
