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

Slots are whole seconds (the store's time format): `noticed_at` and `takedown_at` are rounded up
to the second and offsets are rounded to whole seconds.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from functools import lru_cache

from monitor.config import ScheduleConfig
from monitor.timeline import State, Timeline

__all__ = ["ScheduleConfig", "due_slot", "first_check", "last_slot_at_or_before", "next_check",
           "slots_between"]

_UNCHECKED = Timeline()


def _sec(delta: timedelta) -> timedelta:
    return timedelta(seconds=round(delta.total_seconds()))


def _ceil(when: datetime) -> datetime:
    """Up to the whole second (so no slot is ever before `noticed_at`)."""
    return when if not when.microsecond else when.replace(microsecond=0) + timedelta(seconds=1)


@lru_cache(maxsize=16)
def _offsets(cfg: ScheduleConfig) -> tuple[tuple[timedelta, ...], tuple[timedelta, ...],
                                           timedelta | None]:
    """(after_notice, after_takedown) sorted, unique, whole seconds; the grid step or None."""
    step = _sec(cfg.while_online)
    return (tuple(sorted({_sec(o) for o in cfg.after_notice})),
            tuple(sorted({_sec(o) for o in cfg.after_takedown})),
            step if step > timedelta(0) else None)


class _Plan:
    """The slot set of one report: `base + offsets[i]` plus an optional arithmetic grid
    `anchor + k * step`, k >= kmin."""

    __slots__ = ("base", "offsets", "anchor", "step", "kmin")

    def __init__(self, noticed_at: datetime, timeline: Timeline, cfg: ScheduleConfig) -> None:
        notice = _ceil(noticed_at)
        after_notice, after_takedown, step = _offsets(cfg)
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
        return best


def first_check(noticed_at: datetime, cfg: ScheduleConfig) -> datetime | None:
    """The first slot of a report noticed at `noticed_at` (nothing checked yet)."""
    return _Plan(noticed_at, _UNCHECKED, cfg).first_after(None)


def last_slot_at_or_before(noticed_at: datetime, cfg: ScheduleConfig,
                           when: datetime) -> datetime | None:
    """The latest slot <= `when` of a report that was never confirmed down."""
    return _Plan(noticed_at, _UNCHECKED, cfg).last_at_or_before(when)


def next_check(noticed_at: datetime, timeline: Timeline, cfg: ScheduleConfig, *,
               last_due_at: datetime | None) -> datetime | None:
    """The next slot strictly after `last_due_at` (the first slot when None); None: done."""
    return _Plan(noticed_at, timeline, cfg).first_after(last_due_at)


def due_slot(noticed_at: datetime, timeline: Timeline, cfg: ScheduleConfig, *,
             last_due_at: datetime | None, now: datetime) -> datetime | None:
    """The slot to fill now: the latest slot in `(last_due_at, now]`, or None if none is due.

    Missed slots collapse into this one check (see the module docstring).
    """
    slot = _Plan(noticed_at, timeline, cfg).last_at_or_before(now)
    if slot is None or (last_due_at is not None and slot <= last_due_at):
        return None
    return slot


def slots_between(noticed_at: datetime, timeline: Timeline, cfg: ScheduleConfig, *,
                  after: datetime | None, until: datetime, limit: int = 10_000) -> list[datetime]:
    """Every slot in `(after, until]` for this timeline (at most `limit`): for `schedule` views
    and simulations."""
    plan = _Plan(noticed_at, timeline, cfg)
    out: list[datetime] = []
    slot = plan.first_after(after)
    while slot is not None and slot <= until and len(out) < limit:
        out.append(slot)
        slot = plan.first_after(slot)
    return out
