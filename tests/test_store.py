"""The store: migrations from empty and from the previous version, pragmas, readers vs writer."""

import sqlite3

import pytest

from monitor import store
from monitor.store import schema


def test_migrates_from_empty(tmp_path):
    db = store.connect(tmp_path / "a.db")
    assert schema.version(db) == schema.LATEST
    for table in (
        "hosters",
        "hoster_networks",
        "reports",
        "report_hashes",
        "checks",
        "hash_lists",
        "known_hashes",
        "reuploads",
        "alerts",
        "asn_cache",
        "crawls",
        "watch_sources",
        "placeholders",
    ):
        assert db[table].exists(), table
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrates_from_previous_version_keeping_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    from sqlite_utils import Database

    old = Database(conn)
    schema.migrations.apply(old, stop_before="m002_placeholders")
    assert schema.version(old) == 1
    old.execute(
        "INSERT INTO reports (url, url_key, reported_at, noticed_at, imported_at) "
        "VALUES ('http://a.example/', 'http://a.example/', '2026-01-01T00:00:00Z', "
        "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
    )
    conn.commit()
    conn.close()
    db = store.connect(path)
    assert schema.version(db) == schema.LATEST
    assert db["placeholders"].exists()
    assert db.execute("SELECT url FROM reports").fetchall() == [("http://a.example/",)]
    store.connect(path)  # idempotent
    assert schema.version(db) == schema.LATEST


def test_migrates_from_version_2_adding_first_takedown(tmp_path):
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    from sqlite_utils import Database

    old = Database(conn)
    schema.migrations.apply(old, stop_before="m003_first_takedown")
    assert schema.version(old) == 2 and "first_takedown_at" not in old["reports"].columns_dict
    old.execute(
        "INSERT INTO reports (url, url_key, reported_at, noticed_at, imported_at, state, "
        "takedown_at) VALUES ('http://a.example/', 'k', '2026-01-01T00:00:00Z', "
        "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'down', '2026-01-01T02:00:00Z')"
    )
    conn.commit()
    conn.close()
    db = store.connect(path)
    assert schema.version(db) == schema.LATEST == 8
    # never reappeared: the first takedown is the current one (reappeared rows are replayed
    # from their checks: tests/test_first_takedown.py)
    assert db.execute("SELECT state, first_takedown_at FROM reports").fetchall() == [
        ("down", "2026-01-01T02:00:00Z")
    ]


def test_readonly_refuses_missing_or_foreign_db(tmp_path):
    with pytest.raises(store.StoreError, match="init"):
        store.connect(tmp_path / "none.db", readonly=True)
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE x (y)")
    with pytest.raises(store.StoreError, match="not an ntd-monitor database"):
        store.connect(foreign, readonly=True)


def test_not_a_database(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(store.StoreError):
        store.connect(bad)


def test_reader_not_blocked_by_open_write_transaction(tmp_path):
    path = tmp_path / "w.db"
    writer = store.connect(path)
    reader = store.connect(path, readonly=True)
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.conn.execute("INSERT INTO hosters (name, created_at) VALUES ('X', 'now')")
    # A WAL reader sees the last committed state at once, without waiting for the writer.
    assert reader.execute("SELECT COUNT(*) FROM hosters").fetchone()[0] == 0
    writer.conn.execute("COMMIT")
    assert reader.execute("SELECT COUNT(*) FROM hosters").fetchone()[0] == 1


def test_transaction_rolls_back_on_error(tmp_path):
    db = store.connect(tmp_path / "t.db")
    with pytest.raises(RuntimeError):
        with store.transaction(db):
            db.execute("INSERT INTO hosters (name, created_at) VALUES ('X', 'now')")
            raise RuntimeError("boom")
    assert db.execute("SELECT COUNT(*) FROM hosters").fetchone()[0] == 0


def test_check_slot_is_unique(tmp_path):
    db = store.connect(tmp_path / "u.db")
    db.execute(
        "INSERT INTO reports (id, url, url_key, reported_at, noticed_at, imported_at) "
        "VALUES (1, 'u', 'u', 't', 't', 't')"
    )
    row = ("1", "2026-01-01T01:00:00Z", "2026-01-01T01:00:05Z", "removed", "http_404")
    sql = (
        "INSERT INTO checks (report_id, due_at, checked_at, outcome, reason) VALUES (?, ?, ?, ?, ?)"
    )
    db.execute(sql, row)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(sql, row)
