"""The alert outbox: re-upload rows, tracked reports, alerts, duplicate suppression, views.

Helpers at the top (`make_db`, `reupload`, `PDQ`...) are shared by tests/test_alerts_*.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from monitor import store
from monitor.alerts.outbox import record_reappearance, record_reupload
from monitor.alerts.views import COLUMNS, alert_rows
from monitor.core import clock
from monitor.core.config import AlertsConfig, Config

T0 = "2026-03-02T10:00:00Z"
PDQ = "f" * 16 + "0" * 48
PHASH = "c3d1e0f0a0b0c0d0"
SHA256 = "ab" * 32
HASHES = {"pdq": PDQ, "phash": PHASH, "sha256": SHA256}
HOOK_ENV = "NTD_TEST_HOOK_SECRET"
LOOPBACK = ("127.0.0.0/8",)


def loopback(config: Config | None = None) -> Config:
    """`config` with loopback opened for delivery (the test receivers listen there)."""
    config = config or Config()
    return replace(config, crawl=replace(config.crawl, allow_networks=LOOPBACK))


@pytest.fixture
def pinned():
    clock.fix(T0)
    yield clock.parse(T0)
    clock.fix(None)


def make_db(
    tmp_path,
    *,
    webhook_url: str | None = "http://127.0.0.1:9/hooks/mirror",
    abuse_email: str | None = "abuse@mirror.example",
):
    """A database with an original report, a hash list, an allowlist and three hosters:
    1 Origin Host (email), 2 Mirror Host (the given contacts), 3 Silent Host (no contact)."""
    db = store.connect(tmp_path / "alerts.db")
    now = clock.now_iso()
    rows = [
        (1, "Origin Host", "NL", "abuse@origin.example", None, None),
        (2, "Mirror Host", "DE", abuse_email, webhook_url, HOOK_ENV if webhook_url else None),
        (3, "Silent Host", None, None, None, None),
    ]
    with store.transaction(db):
        db.conn.executemany(
            "INSERT INTO hosters (id, name, country, abuse_email, webhook_url, "
            "webhook_secret_env, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*r, now) for r in rows],
        )
        db.conn.execute(
            "INSERT INTO reports (id, url, url_key, reference, reported_at, noticed_at, "
            "imported_at, takedown_at, first_down_at, hoster_id, asn) VALUES (1, "
            "'https://origin.example/img/1.jpg', 'https://origin.example/img/1.jpg', "
            "'NL-2026-001', ?, ?, ?, '2026-02-01T00:00:00Z', '2026-02-01T00:00:00Z', 1, 64501)",
            ["2026-01-05T00:00:00Z", "2026-01-05T00:00:00Z", now],
        )
        db.conn.execute(
            "INSERT INTO report_hashes (report_id, algorithm, hash, origin, "
            "created_at) VALUES (1, 'pdq', ?, 'imported', ?)",
            [PDQ, now],
        )
        db.conn.execute(
            "INSERT INTO hash_lists (id, name, allowlist, created_at) "
            "VALUES (1, 'known', 0, ?), (2, 'benign', 1, ?)",
            [now, now],
        )
        db.conn.execute(
            "INSERT INTO known_hashes (id, list_id, algorithm, hash, label) VALUES "
            "(1, 1, 'pdq', ?, 'series-7'), (2, 2, 'pdq', ?, 'logo')",
            [PDQ, PDQ],
        )
    return db


def reupload(
    db,
    config=None,
    *,
    url="http://mirror.example/up/a.jpg",
    hoster_id=2,
    of_report_id=1,
    of_known_hash_id=None,
    seen_at=T0,
    **extra,
):
    return record_reupload(
        db,
        url=url,
        page_url="http://mirror.example/gallery",
        of_report_id=of_report_id,
        of_known_hash_id=of_known_hash_id,
        algorithm="pdq",
        distance=4,
        ip="127.0.0.2",
        asn=64502,
        hoster_id=hoster_id,
        seen_at=seen_at,
        hashes=HASHES,
        config=config or Config(),
        **extra,
    )


def alerts(db):
    return [dict(r) for r in db.query("SELECT * FROM alerts ORDER BY id")]


def test_first_discovery_tracks_and_alerts_the_serving_hoster(tmp_path, pinned):
    db = make_db(tmp_path)
    result = reupload(db)
    assert result.new and not result.linked_existing and len(result.alert_ids) == 2
    [row] = db.query("SELECT * FROM reuploads")
    assert (
        row["url"],
        row["hoster_id"],
        row["of_report_id"],
        row["algorithm"],
        row["distance"],
        row["first_seen_at"],
    ) == ("http://mirror.example/up/a.jpg", 2, 1, "pdq", 4, T0)
    tracked = next(db.query("SELECT * FROM reports WHERE id = ?", [result.tracked_report_id]))
    assert tracked["kind"] == "reupload" and tracked["of_reupload_id"] == row["id"]
    assert tracked["reference"] == f"NL-2026-001/reupload-{row['id']}"
    assert tracked["reported_at"] == tracked["noticed_at"] == T0
    assert tracked["next_check_at"] == clock.iso(pinned + timedelta(hours=1))
    assert row["tracked_report_id"] == tracked["id"]
    baseline = dict(
        db.conn.execute(
            "SELECT algorithm, hash FROM report_hashes WHERE report_id = ?", [tracked["id"]]
        ).fetchall()
    )
    assert baseline == HASHES
    made = alerts(db)
    assert {(a["channel"], a["state"], a["hoster_id"], a["kind"]) for a in made} == {
        ("webhook", "pending", 2, "reupload"),
        ("email", "pending", 2, "reupload"),
    }
    assert len({a["idempotency_key"] for a in made}) == 2
    item = json.loads(made[0]["subject"])["item"]
    assert item["url"] == "http://mirror.example/up/a.jpg" and item["hoster"] == "Mirror Host"
    assert item["reference"] == tracked["reference"]
    assert item["original_reference"] == "NL-2026-001"
    assert item["match"] == {
        "algorithm": "pdq",
        "distance": 4,
        "of": {"type": "report", "reference": "NL-2026-001"},
    }
    assert item["hashes"] == HASHES and item["first_seen_at"] == T0


def test_same_url_and_match_again_only_moves_last_seen(tmp_path, pinned):
    db = make_db(tmp_path)
    first = reupload(db)
    again = reupload(db, url="HTTP://Mirror.Example:80/up/a.jpg", seen_at="2026-03-02T11:00:00Z")
    assert not again.new and again.reupload_id == first.reupload_id and again.alert_ids == ()
    [row] = db.query("SELECT first_seen_at, last_seen_at FROM reuploads")
    assert row == {"first_seen_at": T0, "last_seen_at": "2026-03-02T11:00:00Z"}
    assert len(alerts(db)) == 2
    assert db.conn.execute("SELECT count(*) FROM reports WHERE kind = 'reupload'").fetchone() == (
        1,
    )


def test_same_url_other_match_is_suppressed_within_the_window(tmp_path, pinned):
    db = make_db(tmp_path)
    reupload(db)
    second = reupload(db, of_report_id=None, of_known_hash_id=1)
    assert second.new and second.alert_ids == () and second.suppressed == 2
    assert len(alerts(db)) == 2
    clock.fix(pinned + timedelta(days=2))  # the dedupe window (24 h) has passed
    third = reupload(
        db, url="http://mirror.example/up/a.jpg?x=1", of_report_id=None, of_known_hash_id=1
    )
    assert len(third.alert_ids) == 2
    item = json.loads(alerts(db)[-1]["subject"])["item"]
    assert item["match"]["of"] == {"type": "hash_list", "list": "known", "label": "series-7"}


def test_a_reported_url_is_linked_not_duplicated(tmp_path, pinned):
    db = make_db(tmp_path)
    result = reupload(
        db,
        url="https://origin.example/img/1.jpg",
        of_report_id=None,
        of_known_hash_id=1,
        hoster_id=1,
    )
    assert result.linked_existing and result.tracked_report_id == 1
    assert db.conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)


def test_hoster_without_contact_gets_a_failed_alert_staff_can_see(tmp_path, pinned):
    db = make_db(tmp_path)
    reupload(db, hoster_id=3)
    [alert] = alerts(db)
    assert alert["state"] == "failed"
    assert alert["last_error"] == "no abuse contact for hoster Silent Host"
    [row] = alert_rows(db)
    assert row["state"] == "failed" and row["hoster"] == "Silent Host"


def test_allowlisted_entry_never_alerts(tmp_path, pinned):
    db = make_db(tmp_path)
    result = reupload(db, of_report_id=None, of_known_hash_id=2)
    assert result.skipped and result.reupload_id is None
    assert alerts(db) == [] and list(db.query("SELECT * FROM reuploads")) == []


def test_outbox_write_is_atomic_with_the_callers_transaction(tmp_path, pinned):
    db = make_db(tmp_path)
    with pytest.raises(RuntimeError), store.transaction(db):
        reupload(db)
        raise RuntimeError("crawl batch failed")
    assert alerts(db) == [] and list(db.query("SELECT * FROM reuploads")) == []
    assert db.conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)


def test_bad_hash_values_are_refused(tmp_path, pinned):
    db = make_db(tmp_path)
    with pytest.raises(ValueError):
        record_reupload(
            db,
            url="http://mirror.example/b.jpg",
            page_url=None,
            of_report_id=1,
            algorithm="pdq",
            distance=1,
            ip=None,
            asn=None,
            hoster_id=2,
            seen_at=T0,
            hashes={"pdq": "aGVsbG8gd29ybGQ="},
            config=Config(),
        )
    assert alerts(db) == []


def test_reappearance_alerts_once_per_takedown_episode(tmp_path, pinned):
    db = make_db(tmp_path)
    config = Config()
    first = record_reappearance(
        db, report_id=1, seen_at=T0, ip="127.0.0.3", hoster_id=1, config=config
    )
    again = record_reappearance(
        db, report_id=1, seen_at="2026-03-02T12:00:00Z", ip="127.0.0.3", hoster_id=1, config=config
    )
    assert len(first.alert_ids) == 1 and again.alert_ids == () and again.suppressed == 1
    [alert] = alerts(db)
    item = json.loads(alert["subject"])["item"]
    assert (alert["kind"], alert["channel"], item["reference"], item["asn"], item["hashes"]) == (
        "reappearance",
        "email",
        "NL-2026-001",
        64501,
        {"pdq": PDQ},
    )
    with store.transaction(db):  # taken down again, then back again
        db.conn.execute("UPDATE reports SET takedown_at = '2026-03-03T00:00:00Z' WHERE id = 1")
    later = record_reappearance(
        db, report_id=1, seen_at="2026-03-02T13:00:00Z", ip="127.0.0.3", hoster_id=1, config=config
    )
    assert len(later.alert_ids) == 1


def test_dedupe_window_follows_a_long_batch_window(tmp_path, pinned):
    db = make_db(tmp_path)
    config = replace(Config(), alerts=AlertsConfig(batch_window=timedelta(days=3)))
    reupload(db, config)
    clock.fix(pinned + timedelta(days=2))
    later = reupload(db, config, of_report_id=None, of_known_hash_id=1)
    assert later.alert_ids == () and later.suppressed == 2


def test_alert_rows_have_the_stable_keys(tmp_path, pinned):
    db = make_db(tmp_path)
    reupload(db)
    rows = alert_rows(db)
    assert len(rows) == 2
    for row in rows:
        assert set(COLUMNS) <= set(row)
        assert row["urls"] == ["http://mirror.example/up/a.jpg"]
        assert row["created_at"] == T0 and row["sent_at"] is None and row["attempts"] == 0
    assert json.dumps(rows)  # JSON-ready


def test_unattributed_reupload_is_visible_as_failed(tmp_path, pinned):
    db = make_db(tmp_path)
    result = reupload(db, hoster_id=None)
    assert result.new and len(result.alert_ids) == 1
    [alert] = alerts(db)
    assert alert["state"] == "failed" and alert["hoster_id"] is None
    assert alert["last_error"] == "no hoster attributed for http://mirror.example/up/a.jpg"
