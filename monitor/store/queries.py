"""Read-only views for the listing commands: `status` and `schedule`.

Both read the timeline summary that the crawl writer keeps on each report row, so they are
cheap and never block a running crawl (WAL readers).

Status rows describe the current episode: `state`, `first_down_at` and `takedown_at` (NULL
again once the material reappears, so `down` <=> `takedown_at` set). The appended
`first_takedown_at` is the first confirmed takedown ever, kept across reappearances: what the
report measures time to takedown to. The appended `moves_edge` lists the report's moves
between a CDN edge and the origin (monitor.core.edge_moves): `[{"at", "to", "edge"}, ...]`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from monitor.core import clock
from monitor.core.edge_moves import edge_moves

STATUS_KEYS = (
    "id",
    "kind",
    "url",
    "reference",
    "noticed_at",
    "state",
    "last_outcome",
    "last_checked_at",
    "last_online_at",
    "first_down_at",
    "takedown_at",
    "reappearances",
    "hoster",
    "asn",
    "first_takedown_at",
)


def _first_takedown(db: Database) -> str:
    columns = {row[1] for row in db.execute("PRAGMA table_info(reports)")}
    if "first_takedown_at" in columns:
        return "r.first_takedown_at"
    # schema before m003 (a read-only open does not migrate): exact unless it reappeared
    return "CASE WHEN r.reappearances = 0 THEN r.takedown_at END"


def status_rows(
    db: Database, *, state: str | None = None, hoster: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    where, params = [], []
    if state:
        where.append("r.state = ?")
        params.append(state)
    if hoster:
        where.append("h.name = ?")
        params.append(hoster)
    sql = (
        "SELECT r.id, r.kind, r.url, r.reference, r.noticed_at, r.state, r.last_outcome, "
        "r.last_checked_at, r.last_online_at, r.first_down_at, r.takedown_at, r.reappearances, "
        f"h.name AS hoster, r.asn, {_first_takedown(db)} AS first_takedown_at, "
        "u.of_report_id, u.of_known_hash_id, kl.name AS of_list "
        "FROM reports r LEFT JOIN hosters h ON h.id = r.hoster_id "
        "LEFT JOIN reuploads u ON u.id = r.of_reupload_id "
        "LEFT JOIN known_hashes k ON k.id = u.of_known_hash_id "
        "LEFT JOIN hash_lists kl ON kl.id = k.list_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY r.id"
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    out = []
    for row in db.query(sql, params):
        item = {k: row[k] for k in STATUS_KEYS}
        if row["kind"] == "reupload":
            if row["of_report_id"] is not None:
                item["of"] = {"report": row["of_report_id"]}
            elif row["of_known_hash_id"] is not None:
                item["of"] = {"list": row["of_list"], "entry": row["of_known_hash_id"]}
            else:
                item["of"] = None
        out.append(item)
    moves = _edge_moves(db, [item["id"] for item in out])
    for item in out:
        item["moves_edge"] = moves.get(item["id"], [])
    return out


def _edge_moves(db: Database, report_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """report id -> its moves between CDN edge and origin (only reports that have any)."""
    if not report_ids or "edge" not in {row[1] for row in db.execute("PRAGMA table_info(checks)")}:
        return {}  # before m008: no edge recorded
    by_report: dict[int, list[tuple[str, str | None, str | None]]] = {}
    for rid, at, ip, edge in db.execute(
        "SELECT report_id, checked_at, ip, edge FROM checks WHERE ip IS NOT NULL "
        "AND report_id IN (SELECT value FROM json_each(?)) "
        "AND report_id IN (SELECT report_id FROM checks WHERE edge IS NOT NULL) "
        "ORDER BY report_id, checked_at, id",
        [json.dumps(report_ids)],
    ):
        by_report.setdefault(rid, []).append((at, ip, edge))
    return {rid: [m.as_dict() for m in edge_moves(checks)] for rid, checks in by_report.items()}


def schedule_rows(db: Database, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per hoster: checks due now, due in the next 24 h, and the next due time."""
    at = now or clock.now()
    now_s, day_s = clock.iso(at), clock.iso(at + timedelta(hours=24))
    sql = (
        "SELECT COALESCE(h.name, '(not yet attributed)') AS hoster, "
        "SUM(r.next_check_at <= :now) AS due_now, "
        "SUM(r.next_check_at > :now AND r.next_check_at <= :day) AS due_24h, "
        "MIN(CASE WHEN r.next_check_at > :now THEN r.next_check_at END) AS next_due_at, "
        "COUNT(*) AS scheduled "
        "FROM reports r LEFT JOIN hosters h ON h.id = r.hoster_id "
        "WHERE r.next_check_at IS NOT NULL GROUP BY 1 ORDER BY due_now DESC, hoster"
    )
    rows = [dict(r) for r in db.query(sql, {"now": now_s, "day": day_s})]
    watch = db.execute(
        "SELECT SUM(next_scan_at <= ?), MIN(CASE WHEN next_scan_at > ? THEN next_scan_at END), "
        "COUNT(*) FROM watch_sources",
        [now_s, now_s],
    ).fetchone()
    if watch and watch[2]:
        rows.append(
            {
                "hoster": "(watch sources)",
                "due_now": watch[0] or 0,
                "due_24h": None,
                "next_due_at": watch[1],
                "scheduled": watch[2],
            }
        )
    return rows
