"""reports.browse: canned queries run against a fresh store; Datasette serves them on loopback."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
import urllib.request

import pytest

from monitor import store
from reports import browse, sample


@pytest.mark.parametrize("name", sorted(browse.CANNED_QUERIES))
def test_canned_queries_are_valid_sql(tmp_path, name) -> None:
    db = store.connect(tmp_path / "fresh.db")
    assert db.execute(browse.CANNED_QUERIES[name]["sql"]).fetchall() == []
    sample.fill(db, 50, now="2026-03-01T00:00:00Z", checks=3)
    rows = db.execute(browse.CANNED_QUERIES[name]["sql"]).fetchall()
    if name == "unmapped_asns":
        assert {r[0] for r in rows} == {64510}  # the sample's AS-name fallback hoster
    if name == "still_online_by_hoster":
        assert sum(r[1] for r in rows) == db["reports"].count_where("state = 'online'") > 0


def test_metadata_names_the_database(tmp_path) -> None:
    meta = browse.metadata(tmp_path / "ntd-monitor.db")
    assert set(meta["databases"]["ntd-monitor"]["queries"]) == set(browse.CANNED_QUERIES)
    cmd = browse.command(tmp_path / "x.db", tmp_path / "m.json", port=9999)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and "--open" not in cmd


def test_missing_database_is_a_clear_error(tmp_path) -> None:
    with pytest.raises((FileNotFoundError, browse.BrowseUnavailable)):
        browse.browse(tmp_path / "nope.db")


@pytest.mark.skipif(not browse.datasette_available(), reason="datasette not installed")
def test_datasette_serves_the_canned_queries(tmp_path) -> None:
    path = tmp_path / "ntd.db"
    db = store.connect(path)
    sample.fill(db, 30, now="2026-03-01T00:00:00Z", checks=3)
    db.conn.close()
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(browse.metadata(path)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plugins = browse.write_plugin(tmp_path, port)
    proc = subprocess.Popen(
        browse.command(path, meta, port=port, plugins_dir=plugins),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/ntd/still_online_by_hoster.json?_shape=array"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
                    data = json.load(resp)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert data and {"hoster", "still_online"} <= set(data[0])
        # DNS rebinding: a page on another site reaches us with its own host name
        for host, status in (
            (f"evil.example:{port}", 421),
            (f"127.0.0.1.evil.test:{port}", 421),
            ("127.0.0.1:1", 421),
            (f"localhost:{port}", 200),
            (f"[::1]:{port}", 200),
        ):
            assert host_status(port, host, "/ntd/reports.json") == status, host
    finally:
        proc.terminate()
        proc.wait(10)


def host_status(port: int, host: str, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_allowed_hosts_are_loopback_names_with_the_port() -> None:
    allowed = browse.allowed_hosts(8001)
    assert allowed == {"localhost:8001", "127.0.0.1:8001", "[::1]:8001"}
    assert "localhost" in browse.allowed_hosts(80)
