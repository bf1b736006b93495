"""`ntd-monitor browse`: the database in Datasette (optional extra `browse`) with canned queries.

Datasette runs as a child process bound to 127.0.0.1, with a metadata file holding the canned
queries for staff: due checks, still online by hoster, unmapped ASNs, failed alerts.

It shows full URLs, so it answers only requests whose Host header names this machine's
loopback (localhost, 127.0.0.1, [::1]) with the bound port: a web page on another site cannot
read it through DNS rebinding (its requests carry the attacker's host name). The check is a
small Datasette plugin (`asgi_wrapper`) written next to the metadata file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install 'ntd-monitor[browse]'"

CANNED_QUERIES: dict[str, dict[str, str]] = {
    "due_checks": {
        "title": "Due checks",
        "description": "Reports whose next check is due now, oldest first.",
        "sql": (
            "SELECT r.id, r.reference, r.state, r.next_check_at, r.last_checked_at, "
            "h.name AS hoster FROM reports r "
            "LEFT JOIN hosters h ON h.id = COALESCE(r.notified_hoster_id, r.hoster_id) "
            "WHERE r.next_check_at IS NOT NULL "
            "AND r.next_check_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
            "ORDER BY r.next_check_at LIMIT 1000"
        ),
    },
    "still_online_by_hoster": {
        "title": "Still online by hoster",
        "description": "Notices last seen online, per hoster, with the oldest notice time.",
        "sql": (
            "SELECT COALESCE(h.name, '(unattributed)') AS hoster, count(*) AS still_online, "
            "min(r.noticed_at) AS oldest_noticed_at, max(r.last_checked_at) AS last_checked_at "
            "FROM reports r "
            "LEFT JOIN hosters h ON h.id = COALESCE(r.notified_hoster_id, r.hoster_id) "
            "WHERE r.state = 'online' GROUP BY 1 ORDER BY still_online DESC"
        ),
    },
    "unmapped_asns": {
        "title": "Unmapped ASNs",
        "description": "ASNs seen in checks that no curated hoster covers.",
        "sql": (
            "SELECT c.asn, n.name AS as_name, n.country, count(*) AS checks, "
            "max(c.checked_at) AS last_seen FROM checks c "
            "LEFT JOIN asn_names n ON n.asn = c.asn "
            "WHERE c.asn IS NOT NULL AND c.asn NOT IN ("
            "SELECT hn.asn FROM hoster_networks hn JOIN hosters h ON h.id = hn.hoster_id "
            "WHERE h.unmapped = 0 AND hn.asn IS NOT NULL) "
            "GROUP BY c.asn ORDER BY checks DESC"
        ),
    },
    "failed_alerts": {
        "title": "Failed alerts",
        "description": "Alerts that could not be delivered, newest first.",
        "sql": (
            "SELECT a.id, h.name AS hoster, a.channel, a.kind, a.attempts, a.last_error, "
            "a.created_at, a.next_attempt_at FROM alerts a "
            "LEFT JOIN hosters h ON h.id = a.hoster_id "
            "WHERE a.state = 'failed' ORDER BY a.created_at DESC"
        ),
    },
}


HOST = "127.0.0.1"
DEFAULT_PORT = 8001
PLUGIN = """from datasette import hookimpl

from reports.browse import host_guard


@hookimpl
def asgi_wrapper(datasette):
    return host_guard({allowed!r})
"""


def allowed_hosts(port: int, host: str = HOST) -> frozenset[str]:
    """Host header values served: the loopback names and the bound host, with the port."""
    names = {"localhost", "127.0.0.1", "[::1]", f"[{host}]" if ":" in host else host}
    values = {f"{name}:{port}" for name in names}
    if port == 80:
        values |= names
    return frozenset(v.lower() for v in values)


def host_guard(allowed):
    """ASGI middleware: 421 Misdirected Request for a Host header not in `allowed`."""
    allowed = frozenset(h.lower() for h in allowed)

    def wrap(app):
        async def guarded(scope, receive, send):
            if scope["type"] in ("http", "websocket"):
                host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
                if host.lower() not in allowed:
                    if scope["type"] == "websocket":
                        await send({"type": "websocket.close", "code": 1008})
                        return
                    body = b"unexpected Host header: open this page through localhost\n"
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 421,
                            "headers": [
                                (b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
            await app(scope, receive, send)

        return guarded

    return wrap


def write_plugin(directory: str | os.PathLike[str], port: int, host: str = HOST) -> Path:
    """The Host-checking Datasette plugin, in its own plugins directory."""
    plugins = Path(directory) / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "ntd_host_guard.py").write_text(
        PLUGIN.format(allowed=sorted(allowed_hosts(port, host))), encoding="utf-8"
    )
    return plugins


class BrowseUnavailable(RuntimeError):
    """Datasette is not installed."""


def datasette_available() -> bool:
    return importlib.util.find_spec("datasette") is not None


def metadata(db_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Datasette metadata: title and the canned queries for the database file."""
    name = Path(db_path).stem
    return {
        "title": "ntd-monitor",
        "description": "Notice-and-takedown monitoring database (read-only view).",
        "databases": {name: {"queries": CANNED_QUERIES}},
    }


def command(
    db_path: str | os.PathLike[str],
    metadata_path: str | os.PathLike[str],
    *,
    port: int | None = None,
    open_browser: bool = False,
    plugins_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The datasette command line (loopback only; Datasette opens the file read-only)."""
    cmd = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(db_path),
        "--metadata",
        str(metadata_path),
        "--host",
        HOST,
        "--port",
        str(port or DEFAULT_PORT),
    ]
    if plugins_dir is not None:
        cmd += ["--plugins-dir", str(plugins_dir)]
    if open_browser:
        cmd.append("--open")
    return cmd


def browse(
    db_path: str | os.PathLike[str], *, port: int | None = None, open_browser: bool = False
) -> int:
    """Run Datasette on the database until interrupted; returns its exit code."""
    if not datasette_available():
        raise BrowseUnavailable(f"Datasette is not installed; install it with: {INSTALL_HINT}")
    path = Path(db_path)
    if not path.exists():
        raise FileNotFoundError(f"no database at {path} (run `ntd-monitor init` first)")
    with tempfile.TemporaryDirectory(prefix="ntd-browse-") as tmp:
        meta = Path(tmp) / "metadata.json"
        meta.write_text(json.dumps(metadata(path), indent=2), encoding="utf-8")
        plugins = write_plugin(tmp, port or DEFAULT_PORT)
        try:
            return subprocess.call(
                command(path, meta, port=port, open_browser=open_browser, plugins_dir=plugins)
            )
        except KeyboardInterrupt:
            return 0
