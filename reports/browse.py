"""`ntd-monitor browse`: the database in Datasette (optional extra `browse`) with canned queries.

Datasette runs as a child process bound to 127.0.0.1, with a metadata file holding the canned
queries for staff: due checks, still online by hoster, unmapped ASNs, failed alerts.
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
            "ORDER BY r.next_check_at LIMIT 1000"),
    },
    "still_online_by_hoster": {
        "title": "Still online by hoster",
        "description": "Notices last seen online, per hoster, with the oldest notice time.",
        "sql": (
            "SELECT COALESCE(h.name, '(unattributed)') AS hoster, count(*) AS still_online, "
            "min(r.noticed_at) AS oldest_noticed_at, max(r.last_checked_at) AS last_checked_at "
            "FROM reports r "
            "LEFT JOIN hosters h ON h.id = COALESCE(r.notified_hoster_id, r.hoster_id) "
            "WHERE r.state = 'online' GROUP BY 1 ORDER BY still_online DESC"),
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
            "GROUP BY c.asn ORDER BY checks DESC"),
    },
    "failed_alerts": {
        "title": "Failed alerts",
        "description": "Alerts that could not be delivered, newest first.",
        "sql": (
            "SELECT a.id, h.name AS hoster, a.channel, a.kind, a.attempts, a.last_error, "
            "a.created_at, a.next_attempt_at FROM alerts a "
            "LEFT JOIN hosters h ON h.id = a.hoster_id "
            "WHERE a.state = 'failed' ORDER BY a.created_at DESC"),
    },
}


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


def command(db_path: str | os.PathLike[str], metadata_path: str | os.PathLike[str], *,
            port: int | None = None, open_browser: bool = False) -> list[str]:
    """The datasette command line (loopback only)."""
    cmd = [sys.executable, "-m", "datasette", "serve", str(db_path), "--metadata",
           str(metadata_path), "--host", "127.0.0.1", "--port", str(port or 8001)]
    if open_browser:
        cmd.append("--open")
    return cmd


def browse(db_path: str | os.PathLike[str], *, port: int | None = None,
           open_browser: bool = False) -> int:
    """Run Datasette on the database until interrupted; returns its exit code."""
    if not datasette_available():
        raise BrowseUnavailable(f"Datasette is not installed; install it with: {INSTALL_HINT}")
    path = Path(db_path)
    if not path.exists():
        raise FileNotFoundError(f"no database at {path} (run `ntd-monitor init` first)")
    with tempfile.TemporaryDirectory(prefix="ntd-browse-") as tmp:
        meta = Path(tmp) / "metadata.json"
        meta.write_text(json.dumps(metadata(path), indent=2), encoding="utf-8")
        try:
            return subprocess.call(command(path, meta, port=port, open_browser=open_browser))
        except KeyboardInterrupt:
            return 0
