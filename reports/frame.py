"""Notices as columns: numpy arrays, one entry per notice, for vectorised statistics.

Times are float seconds since the epoch (NaN for none), categorical values are integer codes
into label tuples (-1 for none). Built from `NoticeRecord`s (`from_records`, for tests and small
inputs) or straight from SQL by reports.load (the fast path for millions of notices).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np

from monitor.core import clock
from reports.model import STATES, NoticeRecord

STATE_CODE = {name: code for code, name in enumerate(STATES)}
UNCHECKED, ONLINE, DOWN, UNCONFIRMED = range(4)


def epoch(text: str | None) -> float:
    return float("nan") if text is None else clock.parse(text).timestamp()


@dataclass(frozen=True, eq=False)
class Notices:
    ids: np.ndarray  # int64 report ids
    reupload: np.ndarray  # bool: kind 'reupload'
    noticed: np.ndarray  # float64 epoch seconds
    takedown: np.ndarray  # the first confirmed takedown (kept across reappearances)
    first_down: np.ndarray
    last_online: np.ndarray
    last_checked: np.ndarray
    alerted: np.ndarray
    state: np.ndarray  # int8, STATES index
    reappearances: np.ndarray  # int64
    moves: np.ndarray
    reuploads: np.ndarray
    hoster: np.ndarray  # int64 code into hoster_labels, -1 none
    asn: np.ndarray  # int64, -1 none
    country: np.ndarray  # int64 code into country_labels, -1 none
    hoster_labels: tuple[str, ...] = ()
    country_labels: tuple[str, ...] = ()
    # the current episode's takedown (`takedown_at`: NaN again once the material reappeared);
    # None: not known, taken to be `takedown` (NoticeRecords carry one takedown only)
    latest_takedown: np.ndarray | None = None
    # the last online check before the first takedown (reports.load); None: `last_online`
    # (right for every notice that never reappeared)
    online_before: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, index: np.ndarray) -> Notices:
        """The notices selected by a boolean mask or an index array (labels kept)."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values[f.name] = value[index] if isinstance(value, np.ndarray) else value
        return Notices(**values)

    @classmethod
    def from_records(cls, records: Iterable[NoticeRecord]) -> Notices:
        rows = list(records)
        hosters = sorted({r.hoster for r in rows if r.hoster is not None})
        countries = sorted({r.country for r in rows if r.country is not None})
        h_code = {name: i for i, name in enumerate(hosters)}
        c_code = {name: i for i, name in enumerate(countries)}

        def times(attr: str) -> np.ndarray:
            return np.array([epoch(getattr(r, attr)) for r in rows], dtype=np.float64)

        def ints(values: Iterable[int]) -> np.ndarray:
            return np.fromiter(values, dtype=np.int64, count=len(rows))

        return cls(
            ids=ints(r.report_id for r in rows),
            reupload=np.array([r.kind == "reupload" for r in rows], dtype=bool),
            noticed=times("noticed_at"),
            takedown=times("takedown_at"),
            first_down=times("first_down_at"),
            last_online=times("last_online_at"),
            last_checked=times("last_checked_at"),
            alerted=times("alerted_at"),
            state=np.array([STATE_CODE[r.state] for r in rows], dtype=np.int8),
            reappearances=ints(r.reappearances for r in rows),
            moves=ints(r.moves for r in rows),
            reuploads=ints(r.reuploads for r in rows),
            hoster=ints(h_code.get(r.hoster, -1) for r in rows),  # type: ignore[arg-type]
            asn=ints(-1 if r.asn is None else r.asn for r in rows),
            country=ints(c_code.get(r.country, -1) for r in rows),  # type: ignore[arg-type]
            hoster_labels=tuple(hosters),
            country_labels=tuple(countries),
        )


@dataclass(frozen=True, eq=False)
class Outcomes:
    """Per notice, as of the cut-off: the Kaplan-Meier input and the counting categories.

    event: a takedown was confirmed at or before the cut-off (time = the first down observation of
           the first confirmed takedown: an item back online since still counts as taken down).
    hours: hours from noticed_at to the event, or to the censoring time: the last check, or for
           an unconfirmed item its first down observation (it was not confirmed removed before
           that), never later than the cut-off. At least 0.
    at_risk: enters the estimate (checked at least once); unchecked notices do not.
    """

    event: np.ndarray
    hours: np.ndarray
    at_risk: np.ndarray
    taken_down: np.ndarray
    still_online: np.ndarray
    unchecked: np.ndarray
    online_now: np.ndarray


def _confirmed(n: Notices, takedown: np.ndarray) -> np.ndarray:
    """A takedown column, falling back to first_down for a row in state down without one."""
    return np.where(np.isnan(takedown) & (n.state == DOWN), n.first_down, takedown)


def outcomes(n: Notices, cutoff: float) -> Outcomes:
    state = n.state
    event_time = _confirmed(n, n.takedown)
    with np.errstate(invalid="ignore"):
        event = ~np.isnan(event_time) & (event_time <= cutoff)
        later = ~np.isnan(event_time) & (event_time > cutoff)
    censor = np.where(
        (state == UNCONFIRMED) & ~np.isnan(n.first_down), n.first_down, n.last_checked
    )
    censor = np.fmin(censor, cutoff)
    end = np.where(event, event_time, censor)
    hours = np.maximum((end - n.noticed) / 3600.0, 0.0)
    unchecked = (state == UNCHECKED) | np.isnan(n.last_checked)
    at_risk = ~unchecked & ~np.isnan(hours)
    still_online = ~event & ((state == ONLINE) | later)
    online_now = still_online | (event & (state == ONLINE) & (n.reappearances > 0))
    return Outcomes(
        event=event,
        hours=np.nan_to_num(hours),
        at_risk=at_risk,
        taken_down=event,
        still_online=still_online,
        unchecked=unchecked,
        online_now=online_now,
    )


def intervals(n: Notices, out: Outcomes, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Per notice, hours after notice `(left, right]` within which the material was removed,
    for the interval-censored estimator (reports.turnbull):

    taken down: left = the last online check before the takedown (0 when there was none: the
                material was confirmed at notice), right = the first down observation;
    otherwise:  right-censored: left = the last time it was seen online (0 when never), never
                later than the cut-off; right = inf.
    left == right (both clamped to the notice) is an exact time: removed before the notice.
    """
    known = n.last_online if n.online_before is None else n.online_before
    event_time = _confirmed(n, n.takedown)
    with np.errstate(invalid="ignore"):
        until = np.where(out.event, event_time, np.inf)
        seen = np.where(~np.isnan(known) & (known < until), known, n.noticed)
        left = np.maximum((np.fmin(seen, cutoff) - n.noticed) / 3600.0, 0.0)
    right = np.where(out.event, out.hours, np.inf)
    return np.nan_to_num(np.minimum(left, right)), right


def alert_removal(n: Notices) -> np.ndarray:
    """Per notice, the confirmed takedown that answers its first alert (epoch seconds, NaN for
    none, whatever the cut-off): the first takedown if at or after the alert, else the current
    episode's if at or after it (removed before the alert, back online, removed again after it).
    NaN: no confirmed takedown since the alert (still up, or down since before it)."""
    first = _confirmed(n, n.takedown)
    latest = first if n.latest_takedown is None else _confirmed(n, n.latest_takedown)
    with np.errstate(invalid="ignore"):
        return np.where(first >= n.alerted, first, np.where(latest >= n.alerted, latest, np.nan))
