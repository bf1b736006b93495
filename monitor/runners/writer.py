"""The single writer of observations: checks, first-check baselines and placeholders.

Rows are buffered and written in one transaction per batch (>= 500 rows), after which the
touched reports' timeline summaries and next due slots are refreshed. A check slot is unique
per report (`UNIQUE(report_id, due_at)`), so a batch written twice (a crash after COMMIT but
before the crawl knew it) never doubles a row. A crawl killed mid-way loses at most the
unflushed batch, and those slots are still due for the next crawl. Each batch's new rows are
chained (monitor.core.evidence) in the same transaction, so the chain never misses or doubles a row.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from monitor import store
from monitor.alerts.outbox import record_reappearance
from monitor.core import clock
from monitor.core.config import Config
from monitor.store import evidence as evidence_store
from monitor.store import summary
from monitor.store.sql import in_list
from spiders.items import CheckItem, PlaceholderItem

BATCH = 500

_CHECK = """
INSERT OR IGNORE INTO checks (report_id, crawl_id, due_at, checked_at, outcome, reason,
    http_status, final_url, redirects, ip, content_type, size, elapsed_ms, algorithm, distance,
    edge)
VALUES (:report_id, :crawl_id, :due_at, :checked_at, :outcome, :reason, :http_status,
    :final_url, :redirects, :ip, :content_type, :size, :elapsed_ms, :algorithm, :distance,
    :edge)
"""
_BASELINE = """
INSERT OR IGNORE INTO report_hashes (report_id, algorithm, hash, origin, quality, created_at)
SELECT ?, ?, ?, 'first_check', ?, ? WHERE NOT EXISTS (
    SELECT 1 FROM report_hashes WHERE report_id = ? AND origin = 'imported')
"""
_PLACEHOLDER = """
INSERT INTO placeholders (host, algorithm, hash, http_status, learned_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(host, algorithm) DO UPDATE SET hash = excluded.hash, learned_at = excluded.learned_at
"""


class CheckWriter:
    def __init__(
        self, db: Database, config: Config, *, crawl_id: int | None = None, batch: int = BATCH
    ) -> None:
        self.db = db
        self.config = config
        self.crawl_id = crawl_id
        self.batch = batch
        self.checks: list[dict[str, Any]] = []
        self.baselines: list[tuple] = []
        self.placeholders: list[tuple] = []
        self.written = 0

    def add(self, item: Any) -> None:
        """A spiders.items.Writer: checks and placeholders are stored; other items are not
        ours (seen images go to the re-upload pipeline)."""
        if isinstance(item, CheckItem):
            self.add_check(item)
        elif isinstance(item, PlaceholderItem):
            self.add_placeholder(item)

    def counts(self) -> dict[str, int]:
        return {"monitor/written": self.written}

    def close(self) -> None:
        self.db.conn.close()

    def add_check(self, item: Any) -> None:
        row = {
            "report_id": item.report_id,
            "crawl_id": self.crawl_id,
            "due_at": item.due_at,
            "checked_at": item.checked_at,
            "outcome": item.outcome,
            "reason": item.reason,
            "http_status": item.http_status,
            "final_url": item.final_url,
            "redirects": json.dumps([list(r) for r in item.redirects]) if item.redirects else None,
            "ip": item.ip,
            "content_type": item.content_type,
            "size": item.size,
            "elapsed_ms": item.elapsed_ms,
            "algorithm": item.algorithm,
            "distance": item.distance,
            # the CDN named by the response headers (monitor.attribution.edge); the ASN stage may
            # add one
            "edge": getattr(item, "edge", None),
        }
        self.checks.append(row)
        for algorithm, value, quality in item.new_baseline:
            self.baselines.append(
                (item.report_id, algorithm, value, quality, item.checked_at, item.report_id)
            )
        if len(self.checks) >= self.batch:
            self.flush()

    def add_placeholder(self, item: Any) -> None:
        self.placeholders.append(
            (item.host, item.algorithm, item.hash, item.http_status, item.learned_at)
        )

    def flush(self) -> int:
        if not (self.checks or self.placeholders):
            return 0
        checks, self.checks = self.checks, []
        baselines, self.baselines = self.baselines, []
        placeholders, self.placeholders = self.placeholders, []
        ids = {c["report_id"] for c in checks}
        with store.transaction(self.db):
            conn = self.db.conn
            changes = conn.total_changes
            conn.executemany(_CHECK, checks)
            inserted = conn.total_changes - changes
            if inserted:  # chain the new rows, in id order (an ignored slot never counts)
                evidence_store.append(conn)
            if baselines:
                conn.executemany(_BASELINE, baselines)
            if placeholders:
                conn.executemany(_PLACEHOLDER, placeholders)
            id_list = in_list(ids)
            before = dict(
                conn.execute(
                    f"SELECT id, reappearances FROM reports WHERE id IN ({id_list})"
                ).fetchall()
            )
            summary.refresh(
                self.db, ids, self.config.takedown, self.config.schedule, now=clock.now()
            )
            self._alert_reappearances(before, id_list, checks)
            if self.crawl_id is not None:
                conn.execute(
                    "UPDATE crawls SET done = done + ? WHERE id = ?", [inserted, self.crawl_id]
                )
        self.written += inserted
        return inserted

    def _alert_reappearances(
        self, before: dict[int, int], id_list: str, checks: list[dict[str, Any]]
    ) -> None:
        """Material back online after a confirmed takedown: alert its hoster, in the same
        transaction as the check that saw it (the outbox never misses one)."""

        rows = self.db.conn.execute(
            f"SELECT id, reappearances, last_online_at, hoster_id, asn FROM reports "
            f"WHERE id IN ({id_list})"
        ).fetchall()
        ips = {c["report_id"]: c["ip"] for c in checks if c["outcome"] == "online"}
        for report_id, count, seen_at, hoster_id, asn in rows:
            if count > before.get(report_id, 0):
                record_reappearance(
                    self.db,
                    report_id=report_id,
                    seen_at=seen_at,
                    ip=ips.get(report_id),
                    hoster_id=hoster_id,
                    config=self.config,
                    asn=asn,
                )
