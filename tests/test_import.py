"""Importers: reports (CSV, JSON Lines), hash lists and hosters; good, bad and hostile input."""

import json

import pytest

from monitor import store
from monitor.config import Config
from monitor.import_hashes import import_hashes
from monitor.import_hosters import import_hosters
from monitor.import_reports import import_reports
from monitor.importing import ImportFileError
from monitor.urls import clean, key

PHASH = "f0e1d2c3b4a59687"
PDQ = "ab" * 32


@pytest.fixture
def db(tmp_path):
    return store.connect(tmp_path / "t.db")


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def count(db, table):
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_url_normalisation():
    assert clean("  HTTP://Bücher.Example/a b ") == "http://xn--bcher-kva.example/a%20b"
    assert key(clean("https://EXAMPLE.com:443/x?b=2&a=1#f")) == "https://example.com/x?a=1&b=2"
    assert key(clean("http://example.com")) == key(clean("http://EXAMPLE.com:80/"))


def test_good_rows_with_zones_hashes_and_defaults(db, tmp_path):
    path = write(tmp_path, "r.csv",
                 "url,reference,reported_at,noticed_at,phash,pdq,sha256\n"
                 f"http://a.example/1.jpg,C-1,2026-11-01T10:00:00+01:00,,{PHASH.upper()},{PDQ},\n"
                 "http://b.example/2.jpg,C-2,2026-11-01T10:00:00Z,2026-11-01T12:30:00Z,,,\n")
    result = import_reports(db, path, Config())
    assert (result.added, result.bad) == (2, 0)
    rows = {r["reference"]: r for r in db.query("SELECT * FROM reports")}
    assert rows["C-1"]["reported_at"] == "2026-11-01T09:00:00Z"
    assert rows["C-1"]["noticed_at"] == "2026-11-01T09:00:00Z"  # defaults to reported_at
    assert rows["C-1"]["next_check_at"] == "2026-11-01T10:00:00Z"  # first slot: notice + 1h
    assert rows["C-2"]["noticed_at"] == "2026-11-01T12:30:00Z"
    hashes = db.execute("SELECT algorithm, hash, origin FROM report_hashes ORDER BY algorithm")
    assert hashes.fetchall() == [("pdq", PDQ, "imported"), ("phash", PHASH, "imported")]


def test_bad_rows_are_listed_and_good_rows_load(db, tmp_path):
    path = write(tmp_path, "r.csv",
                 "url,reference,reported_at,noticed_at,phash\n"
                 "http://ok.example/1,A,,,\n"
                 "ftp://x.example/2,B,,,\n"
                 "http://ok.example/3,C,yesterday,,\n"
                 "http://ok.example/4,D,2026-11-02T00:00:00Z,2026-11-01T00:00:00Z,\n"
                 "http://ok.example/5,E,,,nothex\n"
                 "http://ok.example/6,F,,\n"
                 "http://ok.example/7,G,,,\n")
    result = import_reports(db, path, Config())
    lines = {e.line: e.reason for e in result.errors}
    assert set(lines) == {3, 4, 5, 6, 7}
    assert "only http and https" in lines[3]
    assert "reported_at" in lines[4]
    assert "before reported_at" in lines[5]
    assert "phash" in lines[6]
    assert "expected 5 fields" in lines[7]
    assert str(result.errors[0]).startswith(f"{path}:3: ")
    assert count(db, "reports") == 2


def test_reimport_changes_nothing_and_duplicates_collapse(db, tmp_path):
    path = write(tmp_path, "r.csv", "url\nhttp://a.example/x\nHTTP://A.EXAMPLE:80/x\n"
                                    "http://b.example/y\n")
    first = import_reports(db, path, Config())
    assert (first.added, first.unchanged) == (2, 1)
    dump = list(db.query("SELECT * FROM reports ORDER BY id"))
    second = import_reports(db, path, Config())
    assert (second.added, second.unchanged, second.bad) == (0, 3, 0)
    assert list(db.query("SELECT * FROM reports ORDER BY id")) == dump


def test_jsonl_and_dry_run(db, tmp_path):
    path = write(tmp_path, "r.jsonl",
                 json.dumps({"url": "http://a.example/1", "reference": "J1",
                             "noticed_at": "2026-11-01T00:00:00Z"}) + "\n"
                 + "not json\n" + json.dumps(["x"]) + "\n"
                 + json.dumps({"url": "http://a.example/2", "colour": "red"}) + "\n")
    dry = import_reports(db, path, Config(), dry_run=True)
    assert (dry.added, dry.bad) == (1, 3) and count(db, "reports") == 0
    real = import_reports(db, path, Config())
    assert real.added == 1 and count(db, "reports") == 1
    assert {e.line for e in real.errors} == {2, 3, 4}


def test_hostile_bytes(db, tmp_path):
    content = (b"url,reference\n"
               b"http://a.example/1,ok\n"
               b"http://a.example/2,\xff\xfe broken\n"
               b"http://a.example/3,nul\x00here\n"
               b"http://a.example/4,\"unterminated\n")
    result = import_reports(db, write(tmp_path, "h.csv", content), Config())
    reasons = {e.line: e.reason for e in result.errors}
    assert "UTF-8" in reasons[3] and "NUL" in reasons[4]
    assert count(db, "reports") == 1


@pytest.mark.parametrize("header,match", [
    ("link,reference", "unknown column"),
    ("reference", "missing required column"),
    ("url,url", "appears twice"),
])
def test_wrong_columns_refuse_the_file(db, tmp_path, header, match):
    with pytest.raises(ImportFileError, match=match):
        import_reports(db, write(tmp_path, "w.csv", header + "\nhttp://a.example/,x\n"), Config())
    assert count(db, "reports") == 0


def test_empty_and_missing_files(db, tmp_path):
    with pytest.raises(ImportFileError, match="empty"):
        import_reports(db, write(tmp_path, "e.csv", ""), Config())
    with pytest.raises(ImportFileError, match="cannot read"):
        import_reports(db, tmp_path / "nope.csv", Config())


def test_100k_rows(db, tmp_path):
    lines = ["url,reference,noticed_at"] + [
        f"http://h{i % 50}.example/item/{i}.jpg,R{i},2026-11-01T00:00:00Z" for i in range(100_000)]
    lines.append("http://h1.example/item/1.jpg,dup,2026-11-01T00:00:00Z")
    result = import_reports(db, write(tmp_path, "big.csv", "\n".join(lines) + "\n"), Config())
    assert (result.added, result.unchanged, result.bad) == (100_000, 1, 0)
    assert count(db, "reports") == 100_000


def test_hash_list_import(db, tmp_path):
    path = write(tmp_path, "h.csv", f"algorithm,hash,label\nphash,{PHASH},a\nPDQ,{PDQ},b\n"
                                    f"phash,{PHASH},dup\nphotodna,00,x\nmd5,abc,short\n")
    result = import_hashes(db, path, "list-1")
    assert (result.added, result.unchanged, result.bad) == (2, 1, 2)
    assert import_hashes(db, path, "list-1").added == 0
    with pytest.raises(ValueError, match="allowlist"):
        import_hashes(db, path, "list-1", allowlist=True)
    assert count(db, "known_hashes") == 2


def test_hoster_import_prefixes_and_secrets(db, tmp_path):
    path = write(tmp_path, "hosters.csv",
                 "name,asn,prefix,country,abuse_email,webhook_url,webhook_secret_env\n"
                 "Big Host,64500,,NL,abuse@big.example,https://big.example/hook,BIG_SECRET\n"
                 "Big Host,64501,,,,,\n"
                 "Reseller,64500,192.0.2.0/25,DE,abuse@res.example,,\n"
                 "Broken,notanasn,,,,,\n"
                 "Leaky,64502,,,,,supersecret-value!\n")
    result = import_hosters(db, path)
    assert result.bad == 2
    nets = db.execute("SELECT h.name, n.asn, n.prefix FROM hoster_networks n "
                      "JOIN hosters h ON h.id = n.hoster_id ORDER BY 1, 2").fetchall()
    assert nets == [("Big Host", 64500, None), ("Big Host", 64501, None),
                    ("Reseller", 64500, "192.0.2.0/25")]
    big = next(db.query("SELECT * FROM hosters WHERE name = 'Big Host'"))
    assert big["webhook_secret_env"] == "BIG_SECRET"
    again = import_hosters(db, path)
    assert again.added == 0 and count(db, "hoster_networks") == 3


def test_curating_an_unmapped_asn_moves_it(db, tmp_path):
    db.execute("INSERT INTO hosters (id, name, unmapped, created_at) VALUES (9, 'AS-X', 1, 't')")
    db.execute("INSERT INTO hoster_networks (hoster_id, asn) VALUES (9, 64999)")
    import_hosters(db, write(tmp_path, "h.csv", "name,asn\nCurated,64999\n"))
    assert db.execute("SELECT h.name FROM hoster_networks n JOIN hosters h "
                      "ON h.id = n.hoster_id WHERE n.asn = 64999").fetchall() == [("Curated",)]


def test_first_slot_comes_from_the_schedule_policy(db, tmp_path):
    from dataclasses import replace
    from datetime import timedelta
    base = Config()
    only_daily = replace(base, schedule=replace(base.schedule, after_notice=()))
    unsorted = replace(base, schedule=replace(base.schedule, after_notice=(
        timedelta(hours=4), timedelta(hours=2))))
    path = write(tmp_path, "r.csv", "url,noticed_at\nhttp://a.example/1,2026-11-01T00:00:00Z\n")
    import_reports(db, path, only_daily)
    assert db.execute("SELECT next_check_at FROM reports").fetchone()[0] == \
        "2026-11-02T00:00:00Z"  # no offsets: the daily while-online grid, never "never"
    other = store.connect(tmp_path / "u.db")
    import_reports(other, path, unsorted)
    assert other.execute("SELECT next_check_at FROM reports").fetchone()[0] == \
        "2026-11-01T02:00:00Z"
