"""Importers: reports (CSV, JSON Lines), hash lists and hosters; good, bad and hostile input."""

import json

import pytest

from monitor import store
from monitor.core.config import Config
from monitor.core.urls import UrlError, clean, key
from monitor.intake.common import ImportFileError
from monitor.intake.hash_list import import_hashes
from monitor.intake.hosters import import_hosters
from monitor.intake.reports import import_reports

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
    path = write(
        tmp_path,
        "r.csv",
        "url,reference,reported_at,noticed_at,phash,pdq,sha256\n"
        f"http://a.example/1.jpg,C-1,2026-11-01T10:00:00+01:00,,{PHASH.upper()},{PDQ},\n"
        "http://b.example/2.jpg,C-2,2026-11-01T10:00:00Z,2026-11-01T12:30:00Z,,,\n",
    )
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
    path = write(
        tmp_path,
        "r.csv",
        "url,reference,reported_at,noticed_at,phash\n"
        "http://ok.example/1,A,,,\n"
        "ftp://x.example/2,B,,,\n"
        "http://ok.example/3,C,yesterday,,\n"
        "http://ok.example/4,D,2026-11-02T00:00:00Z,2026-11-01T00:00:00Z,\n"
        "http://ok.example/5,E,,,nothex\n"
        "http://ok.example/6,F,,\n"
        "http://ok.example/7,G,,,\n",
    )
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
    path = write(
        tmp_path, "r.csv", "url\nhttp://a.example/x\nHTTP://A.EXAMPLE:80/x\nhttp://b.example/y\n"
    )
    first = import_reports(db, path, Config())
    assert (first.added, first.unchanged) == (2, 1)
    dump = list(db.query("SELECT * FROM reports ORDER BY id"))
    second = import_reports(db, path, Config())
    assert (second.added, second.unchanged, second.bad) == (0, 3, 0)
    assert list(db.query("SELECT * FROM reports ORDER BY id")) == dump


def test_jsonl_and_dry_run(db, tmp_path):
    path = write(
        tmp_path,
        "r.jsonl",
        json.dumps(
            {"url": "http://a.example/1", "reference": "J1", "noticed_at": "2026-11-01T00:00:00Z"}
        )
        + "\n"
        + "not json\n"
        + json.dumps(["x"])
        + "\n"
        + json.dumps({"url": "http://a.example/2", "colour": "red"})
        + "\n",
    )
    dry = import_reports(db, path, Config(), dry_run=True)
    assert (dry.added, dry.bad) == (1, 3) and count(db, "reports") == 0
    real = import_reports(db, path, Config())
    assert real.added == 1 and count(db, "reports") == 1
    assert {e.line for e in real.errors} == {2, 3, 4}


def test_hostile_bytes(db, tmp_path):
    content = (
        b"url,reference\n"
        b"http://a.example/1,ok\n"
        b"http://a.example/2,\xff\xfe broken\n"
        b"http://a.example/3,nul\x00here\n"
        b'http://a.example/4,"unterminated\n'
    )
    result = import_reports(db, write(tmp_path, "h.csv", content), Config())
    reasons = {e.line: e.reason for e in result.errors}
    assert "UTF-8" in reasons[3] and "NUL" in reasons[4]
    assert count(db, "reports") == 1


@pytest.mark.parametrize(
    "header,match",
    [
        ("link,reference", "unknown column"),
        ("reference", "missing required column"),
        ("url,url", "appears twice"),
    ],
)
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
        f"http://h{i % 50}.example/item/{i}.jpg,R{i},2026-11-01T00:00:00Z" for i in range(100_000)
    ]
    lines.append("http://h1.example/item/1.jpg,dup,2026-11-01T00:00:00Z")
    result = import_reports(db, write(tmp_path, "big.csv", "\n".join(lines) + "\n"), Config())
    assert (result.added, result.unchanged, result.bad) == (100_000, 1, 0)
    assert count(db, "reports") == 100_000


def test_hash_list_import(db, tmp_path):
    path = write(
        tmp_path,
        "h.csv",
        f"algorithm,hash,label\nphash,{PHASH},a\nPDQ,{PDQ},b\n"
        f"phash,{PHASH},dup\nphotodna,00,x\nmd5,abc,short\n",
    )
    result = import_hashes(db, path, "list-1")
    assert (result.added, result.unchanged, result.bad) == (2, 1, 2)
    assert import_hashes(db, path, "list-1").added == 0
    with pytest.raises(ValueError, match="allowlist"):
        import_hashes(db, path, "list-1", allowlist=True)
    assert count(db, "known_hashes") == 2


def test_hoster_import_prefixes_and_secrets(db, tmp_path):
    path = write(
        tmp_path,
        "hosters.csv",
        "name,asn,prefix,country,abuse_email,webhook_url,webhook_secret_env\n"
        "Big Host,64500,,NL,abuse@big.example,https://big.example/hook,BIG_SECRET\n"
        "Big Host,64501,,,,,\n"
        "Reseller,64500,192.0.2.0/25,DE,abuse@res.example,,\n"
        "Broken,notanasn,,,,,\n"
        "Leaky,64502,,,,,supersecret-value!\n",
    )
    result = import_hosters(db, path)
    assert result.bad == 2
    nets = db.execute(
        "SELECT h.name, n.asn, n.prefix FROM hoster_networks n "
        "JOIN hosters h ON h.id = n.hoster_id ORDER BY 1, 2"
    ).fetchall()
    assert nets == [
        ("Big Host", 64500, None),
        ("Big Host", 64501, None),
        ("Reseller", 64500, "192.0.2.0/25"),
    ]
    big = next(db.query("SELECT * FROM hosters WHERE name = 'Big Host'"))
    assert big["webhook_secret_env"] == "BIG_SECRET"
    again = import_hosters(db, path)
    assert again.added == 0 and count(db, "hoster_networks") == 3


def test_curating_an_unmapped_asn_moves_it(db, tmp_path):
    db.execute("INSERT INTO hosters (id, name, unmapped, created_at) VALUES (9, 'AS-X', 1, 't')")
    db.execute("INSERT INTO hoster_networks (hoster_id, asn) VALUES (9, 64999)")
    import_hosters(db, write(tmp_path, "h.csv", "name,asn\nCurated,64999\n"))
    assert db.execute(
        "SELECT h.name FROM hoster_networks n JOIN hosters h "
        "ON h.id = n.hoster_id WHERE n.asn = 64999"
    ).fetchall() == [("Curated",)]


def test_first_slot_comes_from_the_schedule_policy(db, tmp_path):
    from dataclasses import replace
    from datetime import timedelta

    base = Config()
    only_daily = replace(base, schedule=replace(base.schedule, after_notice=()))
    unsorted = replace(
        base, schedule=replace(base.schedule, after_notice=(timedelta(hours=4), timedelta(hours=2)))
    )
    path = write(tmp_path, "r.csv", "url,noticed_at\nhttp://a.example/1,2026-11-01T00:00:00Z\n")
    import_reports(db, path, only_daily)
    assert (
        db.execute("SELECT next_check_at FROM reports").fetchone()[0] == "2026-11-02T00:00:00Z"
    )  # no offsets: the daily while-online grid, never "never"
    other = store.connect(tmp_path / "u.db")
    import_reports(other, path, unsorted)
    assert (
        other.execute("SELECT next_check_at FROM reports").fetchone()[0] == "2026-11-01T02:00:00Z"
    )


# --- hostile input (issue 18): control characters, implausible times, credentials, dry runs ---

HOSTILE_CHARS = ["\r", "\n", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\u2066"]


@pytest.fixture
def fixed_now():
    from monitor.core import clock

    clock.fix("2026-06-01T00:00:00Z")
    yield clock.now()
    clock.fix(None)


def csv_line(*fields):
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


@pytest.mark.parametrize("char", HOSTILE_CHARS)
def test_control_characters_in_any_text_field_are_row_errors(db, tmp_path, char):
    """CR/LF in a case reference would split an alert's e-mail header; bidi overrides hide text."""
    reports = write(
        tmp_path,
        "r.csv",
        "url,reference\n"
        + csv_line("http://a.example/1", "ok")
        + csv_line("http://a.example/2", f"C-1{char}Bcc: x@evil.example"),
    )
    result = import_reports(db, reports, Config())
    kind = {
        "\u2028": "a line separator",
        "\u2029": "a paragraph separator",
        "\u202e": "a bidi control character",
        "\u2066": "a bidi control character",
    }
    expected = (
        f"{reports}:3: reference: contains {kind.get(char, 'a control character')} "
        f"(U+{ord(char):04X})"
    )
    if char == "\r":  # found on the raw line already (the csv module cannot read it)
        expected = f"{reports}:3: line contains a carriage return (U+000D)"
    assert len(result.errors) == 1 and str(result.errors[0]).startswith(expected)
    assert db.execute("SELECT reference FROM reports").fetchall() == [("ok",)]
    hashes = write(
        tmp_path,
        "h.csv",
        "algorithm,hash,label\n"
        + csv_line("phash", PHASH, "a")
        + csv_line("pdq", PDQ, f"label{char}x"),
    )
    result = import_hashes(db, hashes, "list")
    assert (result.added, result.bad) == (1, 1) and "contains" in result.errors[0].reason
    hosters = write(
        tmp_path,
        "o.csv",
        "name,asn,abuse_email\n"
        + csv_line("Good", "64500", "")
        + csv_line(f"Evil{char}Host", "64501", "")
        + csv_line("Mail", "64502", f"a@b{char}.example"),
    )
    result = import_hosters(db, hosters)
    assert [e.line for e in result.errors] == [3, 5 if char == "\n" else 4]
    assert "contains" in result.errors[1].reason
    assert db.execute("SELECT name FROM hosters").fetchall() == [("Good",)]


def test_jsonl_escapes_and_odd_values_are_row_errors(db, tmp_path):
    path = write(
        tmp_path,
        "r.jsonl",
        "\n".join(
            [
                json.dumps({"url": "http://a.example/ok", "reference": "fine"}),
                '{"url": "http://a.example/1", "reference": "a\\u0000b"}',  # NUL via an escape
                '{"url": "http://a.example/2", "reference": "\\ud800"}',  # unpaired surrogate
                '{"url": "http://a.example/3", "reference": {"a": 1}}',
                '{"url": "http://a.example/4", "reference": '
                + "9" * 5000
                + "}",  # int() digit limit
                '{"url": ' + "[" * 100_000 + "]" * 100_000 + "}",  # too deep
            ]
        )
        + "\n",
    )
    result = import_reports(db, path, Config())
    reasons = {e.line: e.reason for e in result.errors}
    assert set(reasons) == {2, 3, 4, 5, 6} and result.added == 1
    assert "U+0000" in reasons[2] and "surrogate" in reasons[3]
    assert "must be a string or a number" in reasons[4]


@pytest.mark.parametrize(
    "when,reason",
    [
        ("9999-12-31T23:59:59-01:00", "out of range"),  # past year 9999 in UTC: OverflowError
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:59Z", "not a plausible time"),  # its first check would overflow
        ("0999-01-01T00:00:00Z", "not a plausible time"),  # was stored as '999-...': unreadable
        ("2999-01-01T00:00:00Z", "not a plausible time"),  # was accepted, never checked
        ("1989-12-31T23:59:59Z", "not a plausible time"),
        ("2026-06-02T00:00:01Z", "not a plausible time"),  # more than a day after --now
    ],
)
def test_implausible_times_are_row_errors_and_good_rows_load(db, tmp_path, fixed_now, when, reason):
    path = write(
        tmp_path,
        "r.csv",
        "url,reported_at,noticed_at\n"
        "http://a.example/1,2026-05-01T00:00:00Z,\n"
        f"http://a.example/2,{when},\n"
        f"http://a.example/3,2026-05-01T00:00:00Z,{when}\n"
        "http://a.example/4,1990-01-01T00:00:00Z,2026-06-02T00:00:00Z\n",
    )
    dry = import_reports(db, path, Config(), dry_run=True)
    real = import_reports(db, path, Config())
    assert (dry.added, dry.unchanged, dry.bad) == (real.added, real.unchanged, real.bad)
    assert (real.added, real.unchanged, real.bad) == (2, 0, 2)
    assert [str(e) for e in real.errors] == [str(e) for e in dry.errors]
    assert str(real.errors[0]).startswith(f"{path}:3: reported_at: ")
    assert str(real.errors[1]).startswith(f"{path}:4: noticed_at: ")
    assert all(reason in e.reason for e in real.errors)
    assert count(db, "reports") == 2


def test_times_later_than_now_follow_the_fixed_clock(db, tmp_path):
    from click.testing import CliRunner

    from monitor.cli.main import cli

    path = write(tmp_path, "r.csv", "url,noticed_at\nhttp://a.example/1,2026-06-03T00:00:00Z\n")
    runner = CliRunner()
    try:
        early = runner.invoke(
            cli,
            [
                "--db",
                str(tmp_path / "c.db"),
                "--now",
                "2026-06-01T00:00:00Z",
                "import",
                "reports",
                str(path),
            ],
        )
        late = runner.invoke(
            cli,
            [
                "--db",
                str(tmp_path / "c.db"),
                "--now",
                "2026-06-02T12:00:00Z",
                "import",
                "reports",
                str(path),
            ],
        )
    finally:
        from monitor.core import clock

        clock.fix(None)
    assert early.exit_code == 2 and f"{path}:2: noticed_at:" in early.output
    assert late.exit_code == 0 and "added 1 reports" in late.output


def test_cli_lists_hostile_rows_and_exits_2_without_a_traceback(tmp_path):
    from click.testing import CliRunner

    from monitor.cli.main import cli

    reports = write(
        tmp_path,
        "r.csv",
        "url,reported_at\nhttp://a.example/1,\n"
        "http://a.example/2,9999-12-31T23:59:59-01:00\n"
        "http://user:pw@a.example/3,\n",
    )
    hosters = write(tmp_path, "h.csv", "name,asn\nA,64500\nB,\u00b2\n")
    runner = CliRunner()
    for args in (["import", "reports", str(reports)], ["hosters", "import", str(hosters)]):
        result = runner.invoke(cli, ["--db", str(tmp_path / "c.db"), *args])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)  # no traceback
        assert f"{args[-1]}:3: " in result.output and "Traceback" not in result.output
        if args[0] == "import":
            assert f"{reports}:4: url: URL contains credentials" in result.output


@pytest.mark.parametrize(
    "url,reason",
    [
        ("http://user:pw@a.example/x", "URL contains credentials"),
        ("https://user@a.example/x", "URL contains credentials"),
        ("http://:@a.example/x", "URL contains credentials"),
        ("http://a.example:0/x", "port 0"),
        ("http://a..b/x", "empty label"),
        ("http://.a.example/x", "empty label"),
        ("http://" + "a" * 64 + ".example/x", "longer than 63"),
        ("http://" + "abc." * 63 + "example/x", "longer than 253"),
        ("http://a%41.example/x", "invalid characters"),
        ("http://a!b.example/x", "invalid characters"),
        ("http://[::1%25eth0]/x", "zone id"),
        ("http://a.example/\u202ex", "bidi"),
    ],
)
def test_reported_urls_with_credentials_or_bad_hosts_are_refused(db, tmp_path, url, reason):
    path = write(tmp_path, "r.csv", "url\nhttp://ok.example/1\n" + csv_line(url))
    result = import_reports(db, path, Config())
    assert result.added == 1 and len(result.errors) == 1
    assert reason in str(result.errors[0]) and str(result.errors[0]).startswith(f"{path}:3: url:")
    assert "pw" not in str(result.errors[0]) or "user:password" in str(result.errors[0])
    with pytest.raises(UrlError, match=reason):
        clean(url)


def test_watch_add_refuses_credentials(db):
    from monitor.reuploads.watch_sources import add_source

    with pytest.raises(UrlError, match="credentials"):
        add_source(db, "https://user:secret@board.example/gallery", Config())
    assert count(db, "watch_sources") == 0


def test_dry_run_counts_are_a_real_runs_counts(db, tmp_path):
    """Mixed good, bad, duplicate and already-stored rows: dry run == real run, for all three."""
    first = write(tmp_path, "r1.csv", "url\nhttp://a.example/old\n")
    import_reports(db, first, Config())
    reports = write(
        tmp_path,
        "r.csv",
        "url,reported_at,phash\n"
        "http://a.example/old,,\n"  # already stored
        "http://a.example/new,,\n"
        "HTTP://A.EXAMPLE:80/new,,\n"  # duplicate in the file
        f"http://a.example/new,,{PHASH}\n"  # duplicate with a hash
        "http://a.example/bad,9999-12-31T23:59:59Z,\n"
        "http://user:pw@a.example/x,,\n",
    )
    hashes = write(
        tmp_path, "h.csv", f"algorithm,hash\nphash,{PHASH}\nphash,{PHASH}\npdq,{PDQ}\nmd5,zz\n"
    )
    import_hashes(db, write(tmp_path, "h0.csv", f"algorithm,hash\npdq,{PDQ}\n"), "L")
    hosters = write(
        tmp_path,
        "o.csv",
        "name,asn,country\nA,64500,NL\nA,64500,NL\nB,AS\u0663\u0664,\nC,64502,DE\n",
    )
    import_hosters(db, write(tmp_path, "o0.csv", "name,asn,country\nC,64502,DE\n"))
    runs = {
        "reports": lambda dry: import_reports(db, reports, Config(), dry_run=dry),
        "hashes": lambda dry: import_hashes(db, hashes, "L", dry_run=dry),
        "hosters": lambda dry: import_hosters(db, hosters, dry_run=dry),
    }
    for name, run in runs.items():
        tables = (
            "reports",
            "report_hashes",
            "known_hashes",
            "hash_lists",
            "hosters",
            "hoster_networks",
        )
        before = [count(db, t) for t in tables]
        dry = run(True)
        assert [count(db, t) for t in tables] == before, name
        real = run(False)
        assert (dry.read, dry.added, dry.unchanged, dry.bad) == (
            real.read,
            real.added,
            real.unchanged,
            real.bad,
        ), name
        assert [str(e) for e in dry.errors] == [str(e) for e in real.errors], name
    assert (real.added, real.unchanged, real.bad) == (1, 2, 1)  # hosters: A new, A and C same


def test_hash_labels_and_list_names_are_checked(db, tmp_path):
    path = write(
        tmp_path, "h.csv", f"algorithm,hash,label\nphash,{PHASH},{'x' * 201}\npdq,{PDQ},fine\n"
    )
    result = import_hashes(db, path, "L")
    assert (result.added, result.bad) == (1, 1) and "label longer" in result.errors[0].reason
    with pytest.raises(ValueError, match="control character"):
        import_hashes(db, path, "L\r\nX")
