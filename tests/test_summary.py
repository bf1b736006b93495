"""Summary adapter: reports rows rewritten from their checks, against a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor import store
from monitor.core import clock
from monitor.core.config import ScheduleConfig, TakedownConfig
from monitor.store.summary import load, refresh

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
TK, SC = TakedownConfig(), ScheduleConfig()
COLUMNS = (
    "state",
    "checks_count",
    "last_outcome",
    "last_checked_at",
    "last_online_at",
    "first_down_at",
    "takedown_at",
    "reappearances",
    "moves",
    "hoster_id",
    "asn",
    "notified_hoster_id",
    "next_check_at",
    "first_takedown_at",
)


@pytest.fixture
def db(tmp_path):
    db = store.connect(tmp_path / "t.db")
    db["hosters"].insert_all(
        [{"id": i, "name": f"Hoster {i}", "created_at": clock.iso(T0)} for i in (1, 2, 3)]
    )
    yield db
    db.conn.close()


def add_report(db, rid: int, *, noticed: datetime = T0, notified: int | None = None) -> int:
    db["reports"].insert(
        {
            "id": rid,
            "url": f"http://h.test/{rid}.jpg",
            "url_key": f"h.test/{rid}.jpg",
            "reported_at": clock.iso(noticed),
            "noticed_at": clock.iso(noticed),
            "imported_at": clock.iso(noticed),
            "notified_hoster_id": notified,
            "next_check_at": clock.iso(noticed + H),
        }
    )
    return rid


def add_checks(db, rid: int, *checks, noticed: datetime = T0, lag: int = 7) -> None:
    """(hours, outcome, hoster_id, asn) tuples, checked `lag` seconds after their due slot."""
    db["checks"].insert_all(
        [
            {
                "report_id": rid,
                "due_at": clock.iso(noticed + hours * H),
                "checked_at": clock.iso(noticed + hours * H + timedelta(seconds=lag)),
                "outcome": outcome,
                "reason": "r",
                "hoster_id": hoster,
                "asn": asn,
            }
            for hours, outcome, hoster, asn in checks
        ]
    )


def row(db, rid: int) -> dict:
    full = db["reports"].get(rid)
    return {k: full[k] for k in COLUMNS}


def iso(when: datetime) -> str:
    return clock.iso(when)


def test_confirmed_takedown_is_written(db):
    add_report(db, 1)
    add_checks(db, 1, (1, "online", 1, 64500), (2, "removed", None, None), (4, "removed", 2, 64501))
    refresh(db, [1], TK, SC, now=T0 + 5 * H)
    takedown = T0 + 2 * H + timedelta(seconds=7)
    assert row(db, 1) == {
        "state": "down",
        "checks_count": 3,
        "last_outcome": "removed",
        "last_checked_at": iso(T0 + 4 * H + timedelta(seconds=7)),
        "last_online_at": iso(T0 + H + timedelta(seconds=7)),
        "first_down_at": iso(takedown),
        "takedown_at": iso(takedown),
        "reappearances": 0,
        "moves": 0,
        "hoster_id": 2,
        "asn": 64501,
        "notified_hoster_id": 1,
        "next_check_at": iso(takedown + 7 * D),
        "first_takedown_at": iso(takedown),
    }


def test_unchecked_report_gets_its_first_slot_or_the_latest_missed_one(db):
    add_report(db, 1)
    add_report(db, 2)
    refresh(db, [1], TK, SC, now=T0)
    assert row(db, 1)["state"] == "unchecked" and row(db, 1)["next_check_at"] == iso(T0 + H)
    refresh(db, [2], TK, SC, now=T0 + 10 * H)
    assert row(db, 2)["next_check_at"] == iso(T0 + 8 * H)  # missed slots collapse


def test_online_report_keeps_its_schedule_and_notified_hoster(db):
    add_report(db, 1, notified=3)
    add_checks(db, 1, (1, "online", 1, 64500), (2, "online", 2, 64502))
    refresh(db, [1], TK, SC, now=T0 + 2 * H)
    r = row(db, 1)
    assert r["state"] == "online" and r["notified_hoster_id"] == 3 and r["moves"] == 1
    assert r["hoster_id"] == 2 and r["next_check_at"] == iso(T0 + 4 * H)


def test_reappearance_and_done(db):
    add_report(db, 1)
    add_checks(
        db,
        1,
        (1, "online", 1, None),
        (2, "removed", 1, None),
        (4, "dns_gone", None, None),
        (170, "online", 1, None),
    )
    refresh(db, [1], TK, SC, now=T0 + 170 * H)
    r = row(db, 1)
    assert r["state"] == "online" and r["reappearances"] == 1 and r["takedown_at"] is None
    assert r["first_takedown_at"] == iso(T0 + 2 * H + timedelta(seconds=7))  # kept
    assert r["next_check_at"] == iso(T0 + 8 * D)  # daily again
    add_report(db, 2)
    # taken down at 2h; the after_takedown slots 7d, 30d, 90d all found it down: done
    done = [(h, "removed", None, None) for h in (2, 4)]
    done += [(2 + days * 24, "removed", None, None) for days in (7, 30, 90)]
    add_checks(db, 2, *done, lag=0)
    refresh(db, [2], TK, SC, now=T0 + 100 * D)
    assert row(db, 2)["state"] == "down" and row(db, 2)["next_check_at"] is None


def test_unconfirmed_and_blocked(db):
    add_report(db, 1)
    add_checks(db, 1, (1, "online", None, None), (2, "blocked", None, None))
    refresh(db, [1], TK, SC, now=T0 + 2 * H)
    r = row(db, 1)
    assert r["state"] == "unconfirmed" and r["last_outcome"] == "blocked"
    assert r["first_down_at"] is None and r["takedown_at"] is None
    assert r["first_takedown_at"] is None


def test_batch_of_many_reports_in_two_selects_and_leaves_others_alone(db):
    n = 600
    for rid in range(1, n + 2):
        add_report(db, rid)
    for rid in range(1, n + 1):
        outcomes = ["online", "removed", "removed"] if rid % 2 else ["online", "online"]
        add_checks(db, rid, *[(1 + i, o, 1 + rid % 3, None) for i, o in enumerate(outcomes)])
    selects: list[str] = []
    db.conn.set_trace_callback(lambda sql: selects.append(sql) if "SELECT" in sql else None)
    refresh(db, range(1, n + 1), TK, SC, now=T0 + 5 * H)
    db.conn.set_trace_callback(None)
    assert len(selects) == 2
    states = dict(db.execute("SELECT state, count(*) FROM reports GROUP BY state").fetchall())
    assert states == {"down": n // 2, "online": n // 2, "unchecked": 1}
    assert row(db, n + 1)["next_check_at"] == iso(T0 + H)  # not in the batch: untouched
    assert row(db, 3)["takedown_at"] == iso(T0 + 2 * H + timedelta(seconds=7))


def test_refresh_is_idempotent_and_ignores_unknown_ids(db):
    add_report(db, 1)
    add_checks(db, 1, (1, "online", 1, None), (2, "unreachable", None, None))
    refresh(db, [1, 999], TK, SC, now=T0 + 2 * H)
    first = row(db, 1)
    refresh(db, [1, 1], TK, SC, now=T0 + 2 * H)
    assert row(db, 1) == first and first["state"] == "unconfirmed"
    refresh(db, [], TK, SC, now=T0)
    assert row(db, 1) == first


def test_load_gives_timelines_and_last_due(db):
    add_report(db, 1)
    add_checks(db, 1, (8, "online", None, None), (1, "online", None, None))
    items = load(db, [1, 2], TK)
    assert list(items) == [1]
    item = items[1]
    assert item.noticed_at == T0 and item.last_due_at == T0 + 8 * H
    assert item.timeline.checks_count == 2
    assert item.timeline.last_checked_at == T0 + 8 * H + timedelta(seconds=7)


def test_an_order_deadline_brings_a_finished_report_back(db):
    """A confirmed-down report whose schedule has ended (no after_takedown checks) is done:
    next_check_at NULL. An order's deadline 10 days on makes it due at the deadline, then at
    each follow-up, then done again."""
    done = ScheduleConfig(after_takedown=())
    add_report(db, 1)
    add_checks(db, 1, (1, "online", 1, None), (2, "removed", 1, None), (4, "removed", 1, None))
    refresh(db, [1], TK, done, now=T0 + 5 * H)
    assert row(db, 1)["state"] == "down" and row(db, 1)["next_check_at"] is None
    deadline = T0 + 10 * D
    db["orders"].insert(
        {
            "order_id": "O-1",
            "report_id": 1,
            "issued_at": iso(T0 + 9 * D),
            "deadline_at": iso(deadline),
            "imported_at": iso(T0 + 9 * D),
        }
    )
    refresh(db, [1], TK, done, now=T0 + 9 * D)
    assert row(db, 1)["next_check_at"] == iso(deadline)
    assert load(db, [1], TK)[1].extra[0] == deadline

    def check(slot: timedelta, late: timedelta = timedelta(0)) -> None:
        db["checks"].insert(
            {
                "report_id": 1,
                "due_at": iso(deadline + slot),
                "checked_at": iso(deadline + slot + late),
                "outcome": "removed",
                "reason": "r",
            }
        )

    check(timedelta(0))
    refresh(db, [1], TK, done, now=deadline)
    assert row(db, 1)["next_check_at"] == iso(deadline + timedelta(minutes=1))
    check(timedelta(minutes=1))
    refresh(db, [1], TK, done, now=deadline + 2 * H)  # late: +10 min and +1 h collapse
    assert row(db, 1)["next_check_at"] == iso(deadline + H)
    check(H, late=H)
    refresh(db, [1], TK, done, now=deadline + 2 * H)
    assert row(db, 1)["next_check_at"] is None
