"""The tamper-evident record: every check row chained by the single writer (crawl and ingest),
back-filled by migration m007, re-computed by `evidence verify` (which names the first row that
breaks), and signed per-order / per-hoster bundles that verify offline and fail, saying where,
on any changed value, a removed or a reordered row, or the wrong key."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from monitor import store
from monitor.cli.main import cli
from monitor.core import clock, evidence
from monitor.core.config import Config
from monitor.core.evidence import GENESIS, Problem
from monitor.core.evidence_bundle import generate, load_private, load_public, verify
from monitor.runners.writer import CheckWriter
from monitor.store import schema
from monitor.store.evidence import verify_db
from spiders.items import CheckItem
from tests.crawl_helpers import at, behaviour_scenario, crawl_config, load_world

T0 = "2026-03-01T00:00:00Z"


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


def iso(hours: float) -> str:
    return clock.iso(clock.parse(T0) + timedelta(hours=hours))


def add_reports(db: Database, n: int) -> None:
    for rid in range(1, n + 1):
        db.execute(
            "INSERT INTO reports (id, url, url_key, reported_at, noticed_at, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [rid, f"http://h{rid % 2}.example/é/{rid}.jpg", f"k{rid}", T0, T0, T0],
        )


def item(rid: int, slot: int, outcome: str = "online") -> CheckItem:
    return CheckItem(
        report_id=rid,
        url=f"http://h{rid % 2}.example/{rid}.jpg",
        due_at=iso(slot),
        checked_at=iso(slot + 0.01),
        outcome=outcome,
        reason="first_check" if outcome == "online" else "http_404",
        http_status=200 if outcome == "online" else 404,
        ip="127.0.0.7",
        redirects=(("http://a.example/x", 302),),
        content_type="image/png",
        size=1234,
        elapsed_ms=12,
        algorithm="pdq",
        distance=3,
    )


def written(tmp_path: Path, reports: int = 3, slots: int = 4) -> Path:
    """A database whose checks went through the writer: `reports` x `slots` rows."""
    path = tmp_path / "e.db"
    db = store.connect(path)
    add_reports(db, reports)
    writer = CheckWriter(db, Config(), batch=5)
    for slot in range(1, slots + 1):
        for rid in range(1, reports + 1):
            writer.add_check(item(rid, slot, "online" if slot < 3 else "removed"))
    writer.flush()
    db.conn.close()
    return path


def breaks(path: Path) -> list[evidence.Break]:
    db = store.connect(path)
    try:
        return verify_db(db.conn).breaks
    finally:
        db.conn.close()


def run(path: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(path), *args])


# --- the chain in the database ---------------------------------------------------------------


def test_the_writer_chains_every_row_with_the_documented_encoding(tmp_path) -> None:
    path = written(tmp_path)
    db = store.connect(path)
    rows = db.execute(
        "SELECT c.*, r.url FROM checks c JOIN reports r ON r.id = c.report_id ORDER BY c.id"
    ).fetchall()
    names = [
        d[0]
        for d in db.execute(
            "SELECT c.*, r.url FROM checks c JOIN reports r ON r.id = c.report_id"
        ).description
    ]
    prev = GENESIS
    for values in rows:  # docs/evidence.md, independently of monitor.core.evidence
        row = dict(zip(names, values, strict=True))
        obj = {k: row[k] for k in evidence.FIELDS} | {"v": 1}
        data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(data.encode() + bytes.fromhex(prev)).hexdigest()
        assert (row["chain_hash"], row["chain_prev"]) == (digest, prev)
        prev = digest
    assert db.execute("SELECT last_id, hash, count FROM evidence_head").fetchone() == (12, prev, 12)
    db.conn.close()
    assert breaks(path) == []
    done = run(path, "evidence", "verify")
    assert done.exit_code == 0 and "chain intact: 12 checks" in done.output


def test_ignored_duplicate_slots_do_not_advance_the_chain(tmp_path) -> None:
    path = written(tmp_path, reports=2, slots=2)
    db = store.connect(path)
    head = db.execute("SELECT last_id, hash, count FROM evidence_head").fetchone()
    writer = CheckWriter(db, Config())
    writer.add_check(item(1, 1))  # both slots were stored already
    writer.add_check(item(2, 2))
    assert writer.flush() == 0
    assert db.execute("SELECT last_id, hash, count FROM evidence_head").fetchone() == head
    writer.add_check(item(1, 2))  # stored: ignored
    writer.add_check(item(1, 9))  # new
    assert writer.flush() == 1
    assert db.execute("SELECT last_id, count FROM evidence_head").fetchone() == (5, 5)
    db.conn.close()
    assert breaks(path) == []


async def test_crawled_checks_are_chained(make_world, tmp_path) -> None:
    world = await make_world(behaviour_scenario(("404", "different_image"), items=3))
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    from monitor.runners.crawl import run_crawl

    for hours in (1.1, 2.1, 4.1):
        at(world, world.scenario.start + timedelta(hours=hours))
        await run_crawl(db_file, config, resolve_asn=False)
    db = store.connect(db_file)
    total = db.execute("SELECT count(*) FROM checks WHERE chain_hash IS NOT NULL").fetchone()[0]
    assert total == db.execute("SELECT count(*) FROM checks").fetchone()[0] == 18
    db.conn.close()
    assert breaks(db_file) == []


def old_database(path: Path) -> None:
    """A database at schema 6 (before the chain) with checks in it."""
    conn = sqlite3.connect(path)
    old = Database(conn)
    schema.migrations.apply(old, stop_before="m007_evidence_chain")
    assert schema.version(old) == 6 and "chain_hash" not in old["checks"].columns_dict
    add_reports(old, 3)
    for n in range(30):
        old.execute(
            "INSERT INTO checks (report_id, due_at, checked_at, outcome, reason, asn) "
            "VALUES (?, ?, ?, 'removed', 'http_404', 64500)",
            [n % 3 + 1, iso(n), iso(n + 0.1)],
        )
    conn.commit()
    conn.close()


def test_the_migration_back_fills_the_chain(tmp_path) -> None:
    path = tmp_path / "old.db"
    old_database(path)
    done = run(path, "evidence", "verify")  # not migrated yet: a clear answer
    assert done.exit_code == 2 and "no evidence chain yet" in done.output
    db = store.connect(path)
    assert schema.version(db) == schema.LATEST == 8
    assert db.execute("SELECT count(*) FROM checks WHERE chain_hash IS NULL").fetchone()[0] == 0
    assert db.execute("SELECT last_id, count FROM evidence_head").fetchone() == (30, 30)
    writer = CheckWriter(db, Config())  # the writer goes on from the head
    writer.add_check(item(1, 100))
    assert writer.flush() == 1
    db.conn.close()
    assert breaks(path) == []
    store.connect(path).conn.close()  # idempotent
    assert breaks(path) == []


def tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


SWAP = (
    "UPDATE checks SET id = -1 WHERE id = 4",
    "UPDATE checks SET id = 4 WHERE id = 6",
    "UPDATE checks SET id = 6 WHERE id = -1",
)


@pytest.mark.parametrize(
    ("statements", "check_id", "problem"),
    [
        (("UPDATE checks SET outcome = 'blocked' WHERE id = 5",), 5, Problem.HASH_MISMATCH),
        (
            ("UPDATE checks SET checked_at = '2026-03-01T03:00:00Z' WHERE id = 7",),
            7,
            Problem.HASH_MISMATCH,
        ),
        (
            ("UPDATE reports SET url = 'http://other.example/' WHERE id = 2",),
            2,
            Problem.HASH_MISMATCH,
        ),
        (("DELETE FROM checks WHERE id = 5",), 6, Problem.BROKEN_LINK),
        (SWAP, 4, Problem.HASH_MISMATCH),
        (("UPDATE checks SET chain_hash = NULL WHERE id = 3",), 3, Problem.MISSING_HASH),
        (("DELETE FROM checks WHERE id = 12",), None, Problem.HEAD_MISMATCH),
        (
            (
                "INSERT INTO checks (report_id, due_at, checked_at, outcome, reason) VALUES "
                "(1, 'x', 'y', 'online', 'first_check')",
            ),
            13,
            Problem.MISSING_HASH,
        ),
    ],
)
def test_verify_names_the_first_row_that_breaks(tmp_path, statements, check_id, problem) -> None:
    path = written(tmp_path)
    tamper(path, *statements)
    found = breaks(path)
    assert found and (found[0].check_id, found[0].problem) == (check_id, problem), found
    done = run(path, "evidence", "verify")
    assert done.exit_code == 1
    where = f"check {check_id}" if check_id else "chain head"
    assert f"chain BROKEN at {where}" in done.output and problem.value in done.output


# --- signed bundles ---------------------------------------------------------------------------


def bundle_world(tmp_path: Path) -> Path:
    """Checks of 3 reports, attributed (as the ASN stage would), and an order on reports 1, 3."""
    path = written(tmp_path, reports=3, slots=4)
    tamper(
        path,
        "INSERT INTO hosters (id, name, created_at) VALUES (1, 'Alpha Hosting', 't'), "
        "(2, 'Beta', 't')",
        "UPDATE checks SET asn = 64500, asns = '[64500]', prefix = '127.0.0.0/24', "
        "hoster_id = 1 + (report_id = 2)",
        "INSERT INTO orders (order_id, report_id, authority, issued_at, deadline_at, "
        f"imported_at) VALUES ('ORD-1', 1, 'ATKM', '{iso(1)}', '{iso(2)}', 't'), "
        f"('ORD-1', 3, 'ATKM', '{iso(1)}', '{iso(2)}', 't')",
    )
    return path


@pytest.fixture
def signed(tmp_path) -> tuple[Path, Path, Path]:
    path = bundle_world(tmp_path)
    key = tmp_path / "key.pem"
    made = run(path, "evidence", "keygen", "--out", str(key))
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and "BEGIN PUBLIC KEY" in made.output
    out = tmp_path / "b.json"
    done = run(path, "evidence", "export", "--order", "ORD-1", "--out", str(out), "--key", str(key))
    assert done.exit_code == 0, done.output
    return out, Path(f"{key}.pub"), key


def test_a_bundle_verifies_offline(signed, tmp_path) -> None:
    out, pub, _ = signed
    bundle = json.loads(out.read_text())
    assert [r["check"]["report_id"] for r in bundle["rows"]] == [1, 3] * 4
    assert bundle["rows"][0]["attribution"] == {
        "asn": 64500,
        "asns": [64500],
        "prefix": "127.0.0.0/24",
        "hoster": "Alpha Hosting",
    }
    assert bundle["head"]["count"] == 12 and bundle["orders"][0]["authority"] == "ATKM"
    assert verify(out.read_bytes(), load_public(pub.read_bytes(), "pub")) == []
    (tmp_path / "e.db").unlink()  # offline: no database needed
    done = run(tmp_path / "none.db", "evidence", "verify", str(out), "--key", str(pub))
    assert done.exit_code == 0 and "verified" in done.output


def test_a_hoster_bundle_has_the_hosters_reports(tmp_path) -> None:
    path = bundle_world(tmp_path)
    private, _ = generate()
    (tmp_path / "k").write_bytes(private)
    out = tmp_path / "h.json"
    done = run(
        path,
        "evidence",
        "export",
        "--hoster",
        "Beta",
        "--out",
        str(out),
        "--key",
        str(tmp_path / "k"),
    )
    assert done.exit_code == 0, done.output
    rows = json.loads(out.read_text())["rows"]
    assert {r["check"]["report_id"] for r in rows} == {2} and len(rows) == 4
    public = load_private(private, "k").public_key()
    assert verify(out.read_bytes(), public) == []


def value_positions(text: str) -> list[int]:
    """Positions of characters inside JSON values (strings' contents, numbers, literals)."""
    positions, decoder = [], json.JSONDecoder()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            _, end = json.decoder.scanstring(text, i + 1)
            if text[end:].lstrip().startswith(":"):  # a key, not a value
                i = end
                continue
            positions += range(i + 1, end - 1)
            i = end
        elif c in "-0123456789tfn":
            _, end = decoder.raw_decode(text, i)
            positions += range(i, end)
            i = end
        else:
            i += 1
    return positions


def changed(c: str) -> str:
    if c.isdigit():
        return str((int(c) + 1) % 10)
    return "b" if c == "a" else "a"


def test_changing_any_value_byte_fails_verification(signed) -> None:
    out, pub, _ = signed
    text = out.read_text()
    public = load_public(pub.read_bytes(), "pub")
    positions = value_positions(text)
    assert len(positions) > 2000
    for pos in positions:
        forged = text[:pos] + changed(text[pos]) + text[pos + 1 :]
        assert verify(forged.encode(), public), (pos, text[pos - 30 : pos + 30])


def test_a_changed_row_is_named(signed) -> None:
    out, pub, _ = signed
    public = load_public(pub.read_bytes(), "pub")
    bundle = json.loads(out.read_text())
    bundle["rows"][2]["check"]["outcome"] = "removed"
    first = verify(json.dumps(bundle).encode(), public)[0]
    check_id = bundle["rows"][2]["check"]["id"]
    assert first.where.startswith(f"row 3 (check {check_id}, ") and "hash mismatch" in first.what


@pytest.mark.parametrize(
    ("edit", "where", "says"),
    [
        (lambda rows: rows.pop(3), "row 4", "numbered n=5, expected n=4"),
        (lambda rows: rows.pop(), "bundle", "row_count says 8 rows, there are 7"),
        (lambda rows: rows.insert(2, rows.pop(4)), "row 3", "numbered n=5, expected n=3"),
    ],
)
def test_removing_or_reordering_rows_fails_and_says_where(signed, edit, where, says) -> None:
    out, pub, _ = signed
    bundle = json.loads(out.read_text())
    edit(bundle["rows"])
    failures = verify(json.dumps(bundle).encode(), load_public(pub.read_bytes(), "pub"))
    assert failures[0].where.startswith(where) and says in failures[0].what, failures
    assert failures[-1].where == "signature"


def test_reordered_rows_renumbered_are_out_of_chain_order(signed) -> None:
    out, pub, _ = signed
    bundle = json.loads(out.read_text())
    rows = bundle["rows"]
    rows[1], rows[2] = rows[2], rows[1]
    rows[1]["n"], rows[2]["n"] = 2, 3
    first = verify(json.dumps(bundle).encode(), load_public(pub.read_bytes(), "pub"))[0]
    assert first.where.startswith("row 3") and "out of chain order" in first.what


def test_adjacent_rows_must_link(tmp_path) -> None:
    path = bundle_world(tmp_path)
    private, _ = generate()
    (tmp_path / "k").write_bytes(private)
    out = tmp_path / "a.json"
    assert (
        run(
            path,
            "evidence",
            "export",
            "--hoster",
            "Alpha Hosting",
            "--out",
            str(out),
            "--key",
            str(tmp_path / "k"),
        ).exit_code
        == 0
    )
    bundle = json.loads(out.read_text())
    rows = bundle["rows"]
    first = next(i for i, r in enumerate(rows[1:], 1) if r["prev_id"] == rows[i - 1]["check"]["id"])
    # re-hash a row on a forged prev: its own hash holds, the link does not
    forged = rows[first]
    forged["prev"] = "1" * 64
    forged["hash"] = evidence.link(forged["check"], forged["prev"])
    failures = verify(json.dumps(bundle).encode(), load_private(private, "k").public_key())
    assert "broken link" in failures[0].what and failures[0].where.startswith(f"row {first + 1}")


def test_a_changed_attribution_or_a_wrong_key_fails_the_signature(signed) -> None:
    out, pub, _ = signed
    bundle = json.loads(out.read_text())
    bundle["rows"][0]["attribution"]["hoster"] = "Beta"
    public = load_public(pub.read_bytes(), "pub")
    assert [str(f) for f in verify(json.dumps(bundle).encode(), public)] == [
        "signature: does not verify: the bundle was changed after signing (scope, head, "
        "orders, reports, attribution or a row)"
    ]
    _, other = generate()
    failures = verify(out.read_bytes(), load_public(other, "other"))
    assert len(failures) == 1 and "not with the given key" in failures[0].what
    (other_file := out.with_name("other.pub")).write_bytes(other)
    done = run(out.with_name("x.db"), "evidence", "verify", str(out), "--key", str(other_file))
    assert done.exit_code == 1 and "does NOT verify: signature" in done.output


def test_cli_errors_are_clear(signed, tmp_path) -> None:
    out, pub, key = signed
    path = tmp_path / "e.db"
    cases = [
        (
            ("evidence", "export", "--order", "NOPE", "--out", "x.json", "--key", str(key)),
            "no order 'NOPE'",
        ),
        (
            ("evidence", "export", "--hoster", "Nobody", "--out", "x.json", "--key", str(key)),
            "no hoster named 'Nobody' (hosters: Alpha Hosting, Beta)",
        ),
        (("evidence", "export", "--out", "x.json", "--key", str(key)), "exactly one of"),
        (
            ("evidence", "export", "--order", "ORD-1", "--out", "x.json", "--key", str(pub)),
            "not an unencrypted PEM private key",
        ),
        (("evidence", "verify", str(out)), "--key PUB"),
        (("evidence", "verify", str(out), "--key", str(out)), "not an Ed25519 public key"),
        (("evidence", "keygen", "--out", str(key)), "never overwritten"),
    ]
    for args, message in cases:
        done = run(path, *args)
        assert done.exit_code == 2 and message in done.output, (args, done.output)


def test_export_refuses_a_broken_chain(tmp_path) -> None:
    path = bundle_world(tmp_path)
    tamper(path, "UPDATE checks SET outcome = 'blocked' WHERE id = 4")
    private, _ = generate()
    (tmp_path / "k").write_bytes(private)
    done = run(
        path,
        "evidence",
        "export",
        "--order",
        "ORD-1",
        "--out",
        str(tmp_path / "b.json"),
        "--key",
        str(tmp_path / "k"),
    )
    assert done.exit_code == 1 and "check 4" in done.output
    assert not (tmp_path / "b.json").exists()


def test_the_documented_python_verifies_a_bundle(signed, tmp_path) -> None:
    import subprocess
    import sys

    doc = (Path(__file__).parent.parent / "docs" / "evidence.md").read_text()
    script = tmp_path / "verify_bundle.py"
    script.write_text(doc.split("```python\n", 1)[1].split("```", 1)[0])
    out, pub, _ = signed
    done = subprocess.run(
        [sys.executable, str(script), str(out), str(pub)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "verified: 8 observations" in done.stdout, done.stderr
    bundle = json.loads(out.read_text())
    bundle["rows"][4]["attribution"]["asn"] = 64501
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(bundle))
    done = subprocess.run(
        [sys.executable, str(script), str(forged), str(pub)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "InvalidSignature" in done.stderr
