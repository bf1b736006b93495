"""Summary: the store adapter that keeps each report row's timeline columns and next due time.

After a batch of checks is written, the single writer calls `refresh(db, report_ids, ...)`: it
reads those reports' checks in one query, builds each `Timeline` (monitor.core.timeline), computes
the
next due slot (monitor.core.schedule) and rewrites the summary columns of `reports` with one
`executemany`, inside one transaction. Reading is also offered on its own (`load()`), for the
status and report views.

Each report's after-notice checks have their own phase, keyed by the report id (see
monitor.core.schedule). `next_check_at` is the slot to fill next: when slots were already missed at
`now` it is the latest missed one (the crawl collapses them, see monitor.core.schedule), otherwise
the next future slot; NULL when the report is done. A report's removal orders (the `orders`
table) add their deadline slots (monitor.core.schedule.order_slots), read here with the checks.

`takedown_at` is the current episode's takedown (NULL again once the material reappears);
`first_takedown_at` is the first confirmed takedown ever, kept across reappearances: time to
takedown is measured to it (reports.load). `backfill_first_takedown()` fills it for rows written
before it existed (schema migration m003).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from monitor.core import clock
from monitor.core.classify import Outcome
from monitor.core.config import ScheduleConfig, TakedownConfig
from monitor.core.schedule import Extra, due_slot, next_check, order_slots
from monitor.core.timeline import Observation, Timeline, build
from monitor.store.sql import transaction

DEFAULT_TAKEDOWN = TakedownConfig()

_OUTCOMES = {o.value: o for o in Outcome}
_REPORTS = """
SELECT id, noticed_at FROM reports WHERE id IN (SELECT value FROM json_each(?))
"""
_CHECKS = """
SELECT report_id, checked_at, due_at, outcome, reason, hoster_id, asn FROM checks
WHERE report_id IN (SELECT value FROM json_each(?))
ORDER BY report_id, checked_at, id
"""
_REPORTS_ORDERS = """
SELECT r.id, r.noticed_at, (SELECT json_group_array(o.deadline_at) FROM orders o
                            WHERE o.report_id = r.id)
FROM reports r WHERE r.id IN (SELECT value FROM json_each(?))
"""
_UPDATE = """
UPDATE reports SET state = ?, checks_count = ?, last_outcome = ?, last_checked_at = ?,
    last_online_at = ?, first_down_at = ?, takedown_at = ?, reappearances = ?, moves = ?,
    hoster_id = ?, asn = ?, notified_hoster_id = COALESCE(notified_hoster_id, ?),
    next_check_at = ?, first_takedown_at = ?
WHERE id = ?
"""
_UNFILLED = """
SELECT id, state, takedown_at, reappearances FROM reports
WHERE first_takedown_at IS NULL AND reappearances > 0 AND id > ? ORDER BY id LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class ReportTimeline:
    """One report as read from the store: its notice time, timeline and latest filled slot."""

    report_id: int
    noticed_at: datetime
    timeline: Timeline
    last_due_at: datetime | None
    extra: Extra = ()  # its orders' deadline slots (monitor.core.schedule.order_slots)


def first_takedown(t: Timeline) -> datetime | None:
    """The first confirmed takedown of a timeline: the one ended by the first reappearance, else
    the current one (None when never confirmed)."""
    return t.takedowns[0][1] if t.takedowns else t.takedown_at


def load(
    db: Database, report_ids: Iterable[int], takedown: TakedownConfig
) -> dict[int, ReportTimeline]:
    """Timelines of the given reports (unknown ids are left out), two queries in all."""
    return _load(db, report_ids, takedown, {})


def _load(
    db: Database, report_ids: Iterable[int], takedown: TakedownConfig, texts: dict[datetime, str]
) -> dict[int, ReportTimeline]:
    """`load()`, also remembering the canonical text of every time read (in `texts`), so
    writing a time back that came from a check needs no formatting."""
    ids = json.dumps(sorted({int(i) for i in report_ids}))
    conn = db.conn
    noticed: dict[int, datetime] = {}
    deadlines: dict[int, list[datetime]] = {}
    for rid, at, orders in _reports(conn, ids):
        noticed[rid] = clock.parse(at)
        if orders and orders != "[]":
            deadlines[rid] = [clock.parse(d) for d in json.loads(orders)]
    observed: dict[int, list[Observation]] = {rid: [] for rid in noticed}
    last_due: dict[int, str] = {}
    outcomes = _OUTCOMES
    parse = clock.parse
    for rid, checked_at, due, outcome, reason, hoster_id, asn in conn.execute(_CHECKS, (ids,)):
        when = parse(checked_at)
        if len(checked_at) == 20 and checked_at[-1] == "Z":
            texts[when] = checked_at
        observed[rid].append(Observation(when, outcomes[outcome], reason, hoster_id, asn))
        if due > last_due.get(rid, ""):
            last_due[rid] = due
    return {
        rid: ReportTimeline(
            rid,
            noticed[rid],
            build(noticed[rid], observed[rid], takedown),
            parse(last_due[rid]) if rid in last_due else None,
            order_slots(deadlines[rid]) if rid in deadlines else (),
        )
        for rid in noticed
    }


def _reports(conn: sqlite3.Connection, ids: str) -> list[tuple[int, str, str | None]]:
    """(id, noticed_at, JSON list of order deadlines) of these reports; no orders before
    migration m006 made their table (m003 replays timelines through here)."""
    try:
        return conn.execute(_REPORTS_ORDERS, (ids,)).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return [(rid, at, None) for rid, at in conn.execute(_REPORTS, (ids,))]


def due_at(item: ReportTimeline, schedule: ScheduleConfig, *, now: datetime) -> datetime | None:
    """The report's `next_check_at` as of `now` (see the module docstring)."""
    missed = due_slot(
        item.noticed_at,
        item.timeline,
        schedule,
        last_due_at=item.last_due_at,
        now=now,
        key=item.report_id,
        extra=item.extra,
    )
    if missed is not None:
        return missed
    return next_check(
        item.noticed_at,
        item.timeline,
        schedule,
        last_due_at=item.last_due_at,
        key=item.report_id,
        extra=item.extra,
    )


def _row(
    item: ReportTimeline, schedule: ScheduleConfig, now: datetime, texts: dict[datetime, str]
) -> tuple:
    def iso(when: datetime | None) -> str | None:
        return None if when is None else (texts.get(when) or clock.iso(when))

    t = item.timeline
    return (
        t.state.value,
        t.checks_count,
        t.last_outcome.value if t.last_outcome else None,
        iso(t.last_checked_at),
        iso(t.last_online_at),
        iso(t.first_down_at),
        iso(t.takedown_at),
        t.reappearances,
        t.moves,
        t.hoster_id,
        t.asn,
        t.first_hoster_id,
        clock.iso(due_at(item, schedule, now=now)),
        iso(first_takedown(t)),
        item.report_id,
    )


def refresh(
    db: Database,
    report_ids: Iterable[int],
    takedown: TakedownConfig,
    schedule: ScheduleConfig,
    *,
    now: datetime,
) -> None:
    """Rewrite the summary columns and `next_check_at` of these reports from their checks."""
    ids = list(report_ids)
    if not ids:
        return
    with transaction(db):  # read and write under one lock: no check slips in between
        texts: dict[datetime, str] = {}
        items = _load(db, ids, takedown, texts)
        db.conn.executemany(_UPDATE, [_row(item, schedule, now, texts) for item in items.values()])


def backfill_first_takedown(
    db: Database, takedown: TakedownConfig = DEFAULT_TAKEDOWN, *, batch: int = 500
) -> int:
    """Fill `first_takedown_at` of reappeared reports that lack it, replaying their checks under
    `takedown`; returns how many were filled. Only this column is written (a migration knows no
    config and no `--now`: the schedule is left alone). A value is kept only where the replay
    reproduces the stored summary (state, takedown_at, reappearances): under another rule than
    the one the summary was written with, the row stays NULL (reports fall back to
    `takedown_at`) until the writer next refreshes it with the configured rule."""
    filled, after = 0, 0
    with transaction(db):
        while True:
            rows = db.conn.execute(_UNFILLED, (after, batch)).fetchall()
            if not rows:
                return filled
            after = rows[-1][0]
            items = _load(db, [r[0] for r in rows], takedown, {})
            updates = []
            for rid, state, takedown_at, reappearances in rows:
                t = items[rid].timeline
                stored = clock.parse(takedown_at) if takedown_at else None
                same = (
                    t.state.value == state
                    and t.reappearances == reappearances
                    and t.takedown_at == stored
                )
                first = first_takedown(t)
                if same and first is not None:
                    updates.append((clock.iso(first), rid))
            db.conn.executemany("UPDATE reports SET first_takedown_at = ? WHERE id = ?", updates)
            filled += len(updates)
