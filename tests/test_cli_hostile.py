"""Bad input to the command line: damaged, foreign, empty, read-only or busy databases, and a
stop (SIGTERM) while hosters drip bytes. Each case ends in one clear line and exit code 2 (or a
clean stop), never a traceback, and leaves the file as it was. Real processes, real files, a
real slow server on loopback."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor import store
from monitor.cli.main import Group, cli
from reports import sample

NOW = "2026-03-01T00:00:00Z"


def invoke(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_clear_line(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: "), result.output
    for word in words:
        assert word in result.output, result.output


# -- a damaged database --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    """1000 due reports, then 8 KB in the middle of the file overwritten (as in the issue)."""
    path = tmp_path_factory.mktemp("damaged") / "d.db"
    db = store.connect(path)
    sample.fill(db, 1000, now=NOW, checks=3)
    db.conn.execute("UPDATE reports SET next_check_at = '2026-01-01T00:00:00Z'")
    db.conn.close()  # checkpoints: everything in the main file
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size // 2 // 4096 * 4096)
        fh.write(random.Random(18).randbytes(8192))
    with pytest.raises(store.StoreError):  # the precondition: SQLite sees damage
        store.check_integrity(sqlite3.connect(path), path)
    return path


@pytest.mark.parametrize(
    "command",
    [("crawl", "--no-progress"), ("status",), ("asn", "resolve"), ("alerts", "send"), ("run",)],
)
def test_damaged_database_refused_before_any_work(damaged, command) -> None:
    before = digest(damaged)
    result = invoke(damaged, *command)
    one_clear_line(result, "damaged", str(damaged))
    assert digest(damaged) == before


def test_import_into_damaged_database_refused(damaged, tmp_path) -> None:
    before = digest(damaged)
    rows = tmp_path / "r.csv"
    rows.write_text("url,reference\nhttp://a.example/1.jpg,C1\n")
    one_clear_line(invoke(damaged, "import", "reports", str(rows)), "damaged")
    assert digest(damaged) == before


@pytest.mark.parametrize(
    "command",
    [("report", "--format", "json"), ("schedule",), ("hosters", "list"), ("alerts", "list")],
)
def test_readers_refuse_a_damaged_database(damaged, command) -> None:
    """They printed wrong numbers from it, with exit code 0."""
    one_clear_line(invoke(damaged, *command), "damaged")


def test_sqlite_errors_become_one_line(tmp_path) -> None:
    """SQLite's own errors are mapped in one place (monitor.cli.main.Group): exit 2, one line."""
    path = tmp_path / "d.db"
    db = store.connect(path)
    sample.fill(db, 200, now=NOW, checks=3)
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'checks'").fetchone()[0]
    db.conn.close()
    with open(path, "r+b") as fh:  # the checks table's own pages, so a scan meets them
        fh.seek((root - 1) * 4096)
        fh.write(random.Random(18).randbytes(8192))

    @click.group(cls=Group)
    def group() -> None:
        pass

    @group.command()
    def scan() -> None:
        sqlite3.connect(path).execute("SELECT * FROM checks").fetchall()

    one_clear_line(CliRunner().invoke(group, ["scan"]), "malformed", "backup")


# -- not a database, not ours, empty, missing ----------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"url,reference\nhttp://a.example/x,C\n" * 50])
@pytest.mark.parametrize(
    "command",
    [("status",), ("schedule",), ("report",), ("crawl",), ("hosters", "list"), ("alerts", "list")],
)
def test_reading_an_empty_or_text_file_changes_nothing(tmp_path, content, command) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    result = invoke(path, *command)
    one_clear_line(result, str(path))
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]  # no -wal, no -shm


def test_foreign_sqlite_database_is_left_alone(tmp_path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (name TEXT)")
    before = digest(path)
    for command in (("status",), ("crawl",), ("schedule",)):
        one_clear_line(invoke(path, *command), "not an ntd-monitor database")
    assert digest(path) == before


@pytest.mark.parametrize(
    "command", [("status",), ("crawl",), ("run",), ("asn", "resolve"), ("alerts", "send")]
)
def test_only_init_and_imports_create_a_database(tmp_path, command) -> None:
    path = tmp_path / "typo.db"
    one_clear_line(invoke(path, *command), "no database", "init")
    assert not path.exists()


def test_new_database_is_owner_only(tmp_path) -> None:
    path = tmp_path / "new.db"
    assert invoke(path, "init").exit_code == 0
    db = store.connect(path)  # an open writer: -wal and -shm exist
    db.execute("INSERT INTO hosters (name, created_at) VALUES ('X', 'now')")
    for name in ("new.db", "new.db-wal", "new.db-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    db.conn.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_read_only_database_refused_for_writing(tmp_path) -> None:
    path = tmp_path / "ro.db"
    assert invoke(path, "init").exit_code == 0
    path.chmod(0o400)
    try:
        one_clear_line(invoke(path, "crawl", "--no-progress"), "read-only")
        one_clear_line(invoke(path, "asn", "resolve"), "read-only")
    finally:
        path.chmod(0o600)


def _immutable(path: Path, on: bool) -> bool:
    """chattr +i / -i (root only; not every file system has it)."""
    done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("chattr") is None,
    reason="needs root and chattr (the test above covers other users)",
)
def test_read_only_database_refused_for_writing_even_as_root(tmp_path) -> None:
    """Root ignores mode bits, not the immutable flag: SQLite then cannot write, and the
    command says so in one line (exit 2) instead of a traceback."""
    path = tmp_path / "ro.db"
    assert invoke(path, "init").exit_code == 0
    if not _immutable(path, True):
        pytest.skip("this file system has no immutable flag")
    try:
        before = digest(path)
        one_clear_line(invoke(path, "asn", "resolve"), "read-only")
        rows = tmp_path / "r.csv"
        rows.write_text("url,reference\nhttp://a.example/1.jpg,C1\n")
        one_clear_line(invoke(path, "import", "reports", str(rows)), "read-only")
        assert digest(path) == before
    finally:
        _immutable(path, False)


# -- real processes: SIGTERM against slow hosters, and two crawls on one database ----------------


class Drip(BaseHTTPRequestHandler):
    """An image that arrives one byte every half second (a hoster throttling us)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(240):
                self.wfile.write(b"\xff")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def drip_world(tmp_path):
    """A loopback drip server, a database with 40 due reports on it, and a config naming the
    loopback network (ASN from an empty offline table: no DNS)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    routes = tmp_path / "routes.txt"
    routes.write_text("")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[crawl]\nallow_networks = ["127.0.0.0/8"]\ndownload_timeout = "30s"\n'
        f'[asn]\nrouting_table = "{routes}"\n'
    )
    reports = tmp_path / "r.csv"
    reports.write_text(
        "url,reference,noticed_at\n"
        + "".join(
            f"http://127.0.0.1:{port}/i/{i}.jpg,C{i},2026-01-01T00:00:00Z\n" for i in range(40)
        )
    )
    db = tmp_path / "t.db"
    base = [sys.executable, "-m", "monitor", "--db", str(db), "--config", str(config)]
    done = subprocess.run(
        [*base, "import", "reports", str(reports)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    yield base, db, port
    server.shutdown()
    server.server_close()


def start(base: list[str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*base, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_crawl(
    db: Path, proc: subprocess.Popen, timeout: float = 60, kind: str = "recheck"
) -> None:
    """Until the process has its crawl row and its downloads are under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with sqlite3.connect(db) as conn:
                if conn.execute(
                    "SELECT COUNT(*) FROM crawls WHERE status = 'running' AND kind = ?", [kind]
                ).fetchone()[0]:
                    time.sleep(1.5)  # requests in flight on the drip
                    return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.2)
    raise AssertionError("the crawl did not start")


def stop_and_time(proc: subprocess.Popen) -> tuple[float, str]:
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    return time.monotonic() - sent, err


@pytest.mark.parametrize("command", [("crawl", "--no-progress"), ("run",)])
def test_sigterm_stops_within_seconds(drip_world, command) -> None:
    """Downloads in flight take 30 s to time out (it took 41 s and more); a stop cuts them,
    records the crawl as interrupted, and stores no made-up observation."""
    base, db, _port = drip_world
    proc = start(base, *command)
    wait_for_crawl(db, proc)
    took, err = stop_and_time(proc)
    assert took < 10, f"stopping took {took:.1f} s"
    assert "Traceback" not in err, err
    assert proc.returncode == (1 if command[0] == "crawl" else 0), err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM crawls").fetchall() == [("interrupted",)]
        assert conn.execute("SELECT COUNT(*) FROM checks").fetchone()[0] == 0


def test_second_crawl_on_the_same_database_refused(drip_world) -> None:
    base, db, _port = drip_world
    first = start(base, "crawl", "--no-progress")
    try:
        wait_for_crawl(db, first)
        for command in (("crawl", "--no-progress"), ("run",)):
            second = subprocess.run([*base, *command], capture_output=True, text=True, timeout=60)
            assert second.returncode == 2, second.stderr
            assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        stop_and_time(first)
    with sqlite3.connect(db) as conn:  # the second one never recorded a crawl
        assert conn.execute("SELECT COUNT(*) FROM crawls").fetchone()[0] == 1
    # the lock went with the first process: a crawl may run again
    again = start(base, "crawl", "--no-progress")
    try:
        wait_for_crawl(db, again)
    finally:
        stop_and_time(again)


def test_sigterm_stops_a_watch_scan_within_seconds(drip_world, tmp_path) -> None:
    """`crawl` goes on to the watch scans; a gallery page that drips is cut the same way."""
    base, _db, port = drip_world
    db = tmp_path / "w.db"
    base = [*base[: base.index("--db") + 1], str(db), *base[base.index("--db") + 2 :]]
    for args in (("init",), ("watch", "add", f"http://127.0.0.1:{port}/gallery")):
        done = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        due = conn.execute("SELECT next_scan_at FROM watch_sources").fetchall()
    proc = start(base, "crawl", "--no-progress")
    wait_for_crawl(db, proc, kind="watch")
    took, err = stop_and_time(proc)
    assert took < 10 and "Traceback" not in err, (took, err)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT kind, status FROM crawls ORDER BY id").fetchall() == [
            ("recheck", "finished"),
            ("watch", "interrupted"),
        ]
        assert conn.execute("SELECT next_scan_at FROM watch_sources").fetchall() == due
