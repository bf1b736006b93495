"""Time to takedown is measured to the first confirmed takedown, also after a reappearance.

Real store, real checks, the writer's summary refresh: a report taken down and back online now
still counts as taken down (at its first takedown); one removed twice is measured to the first
removal; schema m003 upgrades a database written by the previous version.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlite_utils import Database

from monitor import store
from monitor.core import clock
from monitor.core.config import Config, ReportConfig, ScheduleConfig, TakedownConfig
from monitor.store import schema
from monitor.store.queries import status_rows
from monitor.store.summary import refresh
from reports import load
from reports.build import build_report
from reports.frame import alert_removal
from reports.render import render

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
NOW = T0 + 300 * H
TK, SC = TakedownConfig(), ScheduleConfig()
CONFIG = Config(report=ReportConfig(min_notices_for_rates=1))

ONLINE_AGAIN = ((1, "online"), (2, "removed"), (4, "removed"), (170, "online"))
REMOVED_TWICE = ONLINE_AGAIN + ((194, "removed"), (218, "removed"))
DOWN = ((1, "online"), (2, "removed"), (4, "removed"))
# down checks 30 minutes apart: no takedown under the default rule (confirm_span 1 h)
SHORT = ((1, "online"), (2, "removed"), (2.5, "removed"), (3, "online"))


def iso(hours: float | None) -> str | None:
    return None if hours is None else clock.iso(T0 + hours * H)


def add(db: Database, rid: int, checks, hoster: int | None = None) -> None:
    db["reports"].insert(
        {
            "id": rid,
            "url": f"http://h{rid}.test/a.jpg",
            "url_key": f"k{rid}",
            "reported_at": iso(0),
            "noticed_at": iso(0),
            "imported_at": iso(0),
        }
    )
    db["checks"].insert_all(
        [
            {
                "report_id": rid,
                "due_at": iso(h),
                "checked_at": iso(h),
                "outcome": outcome,
                "reason": "r",
                "hoster_id": hoster,
            }
            for h, outcome in checks
        ]
    )


def alert(db: Database, rid: int, hours: float) -> None:
    db["alerts"].insert(
        {
            "idempotency_key": f"a{rid}",
            "channel": "webhook",
            "kind": "reappearance",
            "subject": json.dumps({"report_id": rid}),
            "state": "sent",
            "created_at": iso(hours),
            "next_attempt_at": iso(hours),
            "sent_at": iso(hours),
        }
    )


@pytest.fixture
def db(tmp_path):
    d = store.connect(tmp_path / "f.db")
    d["hosters"].insert_all(
        [
            {"id": 1, "name": "Alpha", "created_at": iso(0)},
            {"id": 2, "name": "Beta", "created_at": iso(0)},
        ]
    )
    add(d, 1, ONLINE_AGAIN, hoster=1)
    add(d, 2, REMOVED_TWICE, hoster=2)
    refresh(d, [1, 2], TK, SC, now=NOW)
    yield d
    d.conn.close()


def group(data: dict, name: str) -> dict:
    return next(g for g in data["groups"] if g["hoster"] == name)


def test_summary_keeps_the_first_takedown(db) -> None:
    back, twice = db["reports"].get(1), db["reports"].get(2)
    assert (back["state"], back["takedown_at"], back["reappearances"]) == ("online", None, 1)
    assert back["first_takedown_at"] == iso(2)
    assert (twice["state"], twice["takedown_at"], twice["first_takedown_at"]) == (
        "down",
        iso(194),
        iso(2),
    )


def test_reappeared_and_online_now_counts_as_taken_down(db) -> None:
    data = json.loads(render(build_report(db, CONFIG, now=NOW), "json"))
    alpha = group(data, "Alpha")
    assert (alpha["taken_down"], alpha["still_online"], alpha["unresolved"]) == (1, 0, 0)
    assert alpha["median_hours_upper"] == 2.0 and alpha["reappearances"] == 1
    assert 1.0 <= alpha["median_hours"] <= 2.0  # removed within (1 h, 2 h]: online at 1 h
    assert alpha["oldest_online_hours"] == 300.0  # online again: in the still-online list
    report = build_report(db, CONFIG, now=NOW)
    assert [(i.report_id, i.reappeared) for i in report.still_online] == [(1, True)]


def test_removed_twice_is_measured_to_its_first_takedown(db) -> None:
    beta = group(json.loads(render(build_report(db, CONFIG, now=NOW), "json")), "Beta")
    assert (beta["taken_down"], beta["median_hours_upper"]) == (1, 2.0)
    assert 1.0 <= beta["median_hours"] <= beta["p90_hours"] <= 2.0
    assert beta["oldest_online_hours"] is None


def test_status_shows_the_current_episode_and_the_first_takedown(db) -> None:
    rows = {r["id"]: r for r in status_rows(db)}
    assert (rows[1]["state"], rows[1]["takedown_at"], rows[1]["first_takedown_at"]) == (
        "online",
        None,
        iso(2),
    )
    assert (rows[2]["takedown_at"], rows[2]["first_takedown_at"]) == (iso(194), iso(2))
    assert list(rows[1])[-2:] == ["first_takedown_at", "moves_edge"]  # appended, in order:
    # the contract's keys stay where they were


def test_alert_removal_is_the_takedown_after_the_alert(db) -> None:
    add(db, 3, DOWN)
    add(db, 4, DOWN)
    refresh(db, [3, 4], TK, SC, now=NOW)
    alert(db, 1, 175)  # back online at 170: no takedown since
    alert(db, 2, 180)  # back online at 170, removed again at 194
    alert(db, 3, 10)  # down since 2 h: already removed
    alert(db, 4, 1.5)  # removed at 2 h, after the alert
    n = load.notices(db)
    got = dict(zip(n.ids.tolist(), alert_removal(n).tolist(), strict=True))
    assert np.isnan(got[1]) and np.isnan(got[3])
    assert got[2] == clock.parse(iso(194)).timestamp()
    assert got[4] == clock.parse(iso(2)).timestamp()


def test_alert_after_a_reappearance_is_measured_to_the_next_takedown(db) -> None:
    alert(db, 2, 180)
    beta = group(json.loads(render(build_report(db, CONFIG, now=NOW), "json")), "Beta")
    assert beta["alerted"] == 1 and beta["alert_to_removal_hours_median"] == 14.0


def old_database(path) -> Database:
    """A database at schema m002 with summaries as the previous writer kept them."""
    conn = sqlite3.connect(path)
    old = Database(conn)
    schema.migrations.apply(old, stop_before="m003_first_takedown")
    assert schema.version(old) == 2
    for rid, checks in ((1, ONLINE_AGAIN), (2, REMOVED_TWICE), (3, DOWN), (4, SHORT), (5, ())):
        add(old, rid, checks)
    old_summary = {  # state, first_down_at, takedown_at, reappearances, last_online_at
        1: ("online", None, None, 1, 170),
        2: ("down", 194, 194, 1, 170),
        3: ("down", 2, 2, 0, 1),
        4: ("online", None, None, 1, 3),  # written under a 10-minute confirm_span
        5: ("unchecked", None, None, 0, None),
    }
    for rid, (state, first_down, takedown, reapp, online) in old_summary.items():
        old["reports"].update(
            rid,
            {
                "state": state,
                "first_down_at": iso(first_down),
                "takedown_at": iso(takedown),
                "reappearances": reapp,
                "last_online_at": iso(online),
                "last_checked_at": iso(300),
                "checks_count": 3,
            },
        )
    conn.commit()
    return old


def test_migration_fills_first_takedown_from_the_checks(tmp_path) -> None:
    path = tmp_path / "old.db"
    old_database(path).conn.close()
    # not migrated yet (read-only opens do not migrate): status and report still work
    ro = store.connect(path, readonly=True)
    assert {r["id"]: r["first_takedown_at"] for r in status_rows(ro)}[3] == iso(2)
    assert build_report(ro, CONFIG, now=NOW).overall.taken_down == 2  # the old reading
    ro.conn.close()

    db = store.connect(path)
    assert schema.version(db) == schema.LATEST == 8
    first = dict(db.execute("SELECT id, first_takedown_at FROM reports").fetchall())
    assert first == {1: iso(2), 2: iso(2), 3: iso(2), 4: None, 5: None}
    # the migration wrote that column only: summaries and schedule are as they were
    assert db["reports"].get(2)["takedown_at"] == iso(194)
    report = build_report(db, CONFIG, now=NOW)
    assert report.overall.taken_down == 3 and report.overall.median_hours_upper == 2.0
    # report 4's summary came from another rule: its writer's next refresh fills it
    refresh(db, [4], TakedownConfig(confirm_span=timedelta(minutes=10)), SC, now=NOW)
    assert db["reports"].get(4)["first_takedown_at"] == iso(2)
    store.connect(path)  # idempotent
    assert schema.version(db) == schema.LATEST
