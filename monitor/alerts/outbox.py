"""The transactional outbox: a re-upload (or reappearance) and its alerts in one transaction.

`record_reupload` upserts the `reuploads` row (same URL and match again: only `last_seen_at`
moves), on first discovery makes it a tracked `reports` row of kind 'reupload' (its takedown
clock starts at the alert) and writes one pending alert per channel of the hoster that serves
the re-upload. `record_reappearance` writes the alerts for a reported URL serving the material
again after its takedown. Both join the caller's transaction when there is one. Delivery is
`monitor.alerts.deliver`; a crash between the two loses nothing (the rows are committed).

A URL served through a CDN edge is alerted to the CDN (asked to forward to the origin hoster)
and to the origin hoster when known: one set of alerts per recipient (monitor.alerts.cdn_route).

A video found by vPDQ is recorded with algorithm `vpdq` and distance 0..100 (100 minus the
percentage of its frames found in the reported video). Alerts carry fixed-width hash values only:
a `vpdq` signature given in `hashes` becomes the tracked report's baseline, never alert text,
and a reappearance's hash values are its report's fixed-width hashes (never its `vpdq` row).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from hashes.formats import ALGORITHMS, VIDEO_ALGORITHMS, HashFormatError
from monitor import store
from monitor.alerts import cdn_route, items
from monitor.core import clock, urls
from monitor.core.config import Config
from monitor.core.schedule import first_check


@dataclass(frozen=True)
class ReuploadResult:
    reupload_id: int | None
    new: bool  # first discovery of this URL and match
    tracked_report_id: int | None  # the reports row that measures its takedown
    linked_existing: bool  # the URL already was a report: linked, not created
    alert_ids: tuple[int, ...] = ()
    suppressed: int = 0  # alerts not written: same URL alerted within window
    skipped: str | None = None  # why nothing was written (e.g. allowlisted entry)


@dataclass(frozen=True)
class ReappearanceResult:
    report_id: int
    alert_ids: tuple[int, ...] = ()
    suppressed: int = 0


def _when(value: datetime | str) -> str:
    return clock.iso(clock.parse(value) if isinstance(value, str) else value)  # type: ignore


def _one(db: Database, sql: str, params: list[Any]) -> Any:
    return db.conn.execute(sql, params).fetchone()


def _original(
    db: Database, of_report_id: int | None, of_known_hash_id: int | None
) -> tuple[str, dict[str, Any], bool]:
    """(base reference, match origin object, allowlisted?) of what the re-upload matches."""
    if of_report_id is not None:
        row = _one(db, "SELECT reference FROM reports WHERE id = ?", [of_report_id])
        if row is None:
            raise ValueError(f"no report with id {of_report_id}")
        ref = row[0] or f"report-{of_report_id}"
        return ref, {"type": "report", "reference": ref}, False
    row = _one(
        db,
        "SELECT hl.name, kh.label, hl.allowlist FROM known_hashes kh "
        "JOIN hash_lists hl ON hl.id = kh.list_id WHERE kh.id = ?",
        [of_known_hash_id],
    )
    if row is None:
        raise ValueError(f"no known hash with id {of_known_hash_id}")
    name, label, allow = row
    ref = f"{name}:{label or of_known_hash_id}"
    return ref, {"type": "hash_list", "list": name, "label": label}, bool(allow)


def record_reupload(
    db: Database,
    *,
    url: str,
    page_url: str | None,
    of_report_id: int | None = None,
    of_known_hash_id: int | None = None,
    algorithm: str,
    distance: int,
    ip: str | None,
    asn: int | None,
    hoster_id: int | None,
    seen_at: datetime | str,
    hashes: dict[str, str],
    config: Config,
    edge: str | None = None,
) -> ReuploadResult:
    """Record a re-upload found at `url`; alert its serving hoster on first discovery (through
    a CDN edge, `edge` or the attributed hoster's `cdn`: the CDN and the origin, cdn_route)."""
    if (of_report_id is None) == (of_known_hash_id is None):
        raise ValueError("give exactly one of of_report_id and of_known_hash_id")
    name = algorithm.lower()
    if name not in ALGORITHMS and name not in VIDEO_ALGORITHMS:
        raise HashFormatError(f"unknown hash algorithm {algorithm[:40]!r}")
    if name in VIDEO_ALGORITHMS and not 0 <= int(distance) <= 100:
        raise ValueError(f"a {name} distance is 100 minus a percentage (0..100), not {distance}")
    clean_url = urls.clean(url)
    url_key = urls.key(clean_url)
    page = urls.clean(page_url) if page_url else None
    values = items.clean_hashes(hashes)
    baseline = items.clean_hashes(hashes, video=True)
    seen = _when(seen_at)
    now = clock.now()
    stamp = clock.now_iso()
    with store.transaction(db):
        base, origin, allowlisted = _original(db, of_report_id, of_known_hash_id)
        if allowlisted:
            return ReuploadResult(None, False, None, False, skipped="allowlisted hash list entry")
        row = _one(
            db,
            "SELECT id, tracked_report_id, last_seen_at FROM reuploads WHERE "
            "url_key = ? AND of_report_id IS ? AND of_known_hash_id IS ?",
            [url_key, of_report_id, of_known_hash_id],
        )
        if row is not None:
            db.conn.execute(
                "UPDATE reuploads SET last_seen_at = max(last_seen_at, ?) WHERE id = ?",
                [seen, row[0]],
            )
            return ReuploadResult(row[0], False, row[1], False)
        reupload_id = (
            db.conn.execute(
                "INSERT INTO reuploads (url, url_key, page_url, of_report_id, of_known_hash_id, "
                "algorithm, distance, ip, asn, hoster_id, first_seen_at, last_seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    clean_url,
                    url_key,
                    page,
                    of_report_id,
                    of_known_hash_id,
                    name,
                    int(distance),
                    ip,
                    asn,
                    hoster_id,
                    seen,
                    seen,
                ],
            ).lastrowid
            or 0
        )
        tracked, linked, reference = _track(
            db, clean_url, url_key, base, reupload_id, hoster_id, asn, baseline, now, config
        )
        db.conn.execute(
            "UPDATE reuploads SET tracked_report_id = ? WHERE id = ?", [tracked, reupload_id]
        )
        fields = dict(
            kind="reupload",
            url=clean_url,
            page_url=page,
            first_seen_at=seen,
            last_seen_at=seen,
            ip=ip,
            asn=asn,
            reference=reference,
            original_reference=base,
            match=items.match_object(name, int(distance), origin),
            hashes=values,
        )
        routed = cdn_route.route(
            db, hoster_id=hoster_id, report_id=tracked, url=clean_url, edge=edge
        )
        ids, suppressed = _enqueue_routed(
            db,
            routed,
            fields,
            kind="reupload",
            url_key=url_key,
            ref=items.match_ref(of_report_id, of_known_hash_id),
            dedupe=items.dedupe_ref("reupload", url_key),
            stamp=stamp,
            config=config,
        )
    return ReuploadResult(reupload_id, True, tracked, linked, ids, suppressed)


def _track(
    db: Database,
    url: str,
    url_key: str,
    base: str,
    reupload_id: int,
    hoster_id: int | None,
    asn: int | None,
    values: dict[str, str],
    now: datetime,
    config: Config,
) -> tuple[int, bool, str | None]:
    """The tracked reports row: the existing report of this URL, or a new kind 'reupload'."""
    row = _one(db, "SELECT id, reference FROM reports WHERE url_key = ?", [url_key])
    if row is not None:
        return row[0], True, row[1]
    stamp = clock.iso(now)
    due = clock.iso(first_check(now, config.schedule))
    reference = f"{base}/reupload-{reupload_id}"
    report_id = (
        db.conn.execute(
            "INSERT INTO reports (kind, url, url_key, reference, reported_at, noticed_at, "
            "imported_at, notified_hoster_id, of_reupload_id, next_check_at, hoster_id, asn) "
            "VALUES ('reupload', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                url,
                url_key,
                reference,
                stamp,
                stamp,
                stamp,
                hoster_id,
                reupload_id,
                due,
                hoster_id,
                asn,
            ],
        ).lastrowid
        or 0
    )
    db.conn.executemany(
        "INSERT OR IGNORE INTO report_hashes (report_id, algorithm, hash, origin, created_at) "
        "VALUES (?, ?, ?, 'first_check', ?)",
        [(report_id, algo, value, stamp) for algo, value in values.items()],
    )
    return report_id, False, reference


def _hoster(db: Database, hoster_id: int | None) -> dict[str, Any] | None:
    if hoster_id is None:
        return None
    row = _one(db, "SELECT name, abuse_email, webhook_url FROM hosters WHERE id = ?", [hoster_id])
    if row is None:
        raise ValueError(f"no hoster with id {hoster_id}")
    return {"name": row[0], "abuse_email": row[1], "webhook_url": row[2]}


def _enqueue(
    db: Database,
    *,
    kind: str,
    hoster: dict[str, Any] | None,
    hoster_id: int | None,
    url_key: str,
    ref: str,
    dedupe: str,
    subject: dict[str, Any],
    stamp: str,
    config: Config,
) -> tuple[tuple[int, ...], int]:
    """One alert per channel the hoster has; a 'failed' one when it has no contact at all."""
    channels = []
    if hoster and hoster["webhook_url"]:
        channels.append("webhook")
    if hoster and hoster["abuse_email"]:
        channels.append("email")
    error = None
    if not channels:
        channels = ["email"]
        error = (
            f"no abuse contact for hoster {hoster['name']}"
            if hoster
            else f"no hoster attributed for {subject['url']}"
        )
    since = clock.iso(clock.parse(stamp) - items.dedupe_window(config.alerts))
    body = json.dumps({"dedupe": dedupe, "item": subject}, sort_keys=True)
    ids: list[int] = []
    suppressed = 0
    for channel in channels:
        dup = _one(
            db,
            "SELECT 1 FROM alerts WHERE channel = ? AND kind = ? AND hoster_id IS ? "
            "AND created_at > ? AND json_extract(subject, '$.dedupe') = ?",
            [channel, kind, hoster_id, since, dedupe],
        )
        if dup is not None:
            suppressed += 1
            continue
        cursor = db.conn.execute(
            "INSERT OR IGNORE INTO alerts (idempotency_key, hoster_id, channel, kind, subject, "
            "state, attempts, last_error, created_at, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            [
                items.idempotency_key(channel, kind, url_key, ref),
                hoster_id,
                channel,
                kind,
                body,
                "failed" if error else "pending",
                error,
                stamp,
                stamp,
            ],
        )
        if cursor.rowcount and cursor.lastrowid is not None:
            ids.append(cursor.lastrowid)
        else:
            suppressed += 1
    return tuple(ids), suppressed


def _enqueue_routed(
    db: Database,
    routed: cdn_route.Route,
    fields: dict[str, Any],
    *,
    kind: str,
    url_key: str,
    ref: str,
    dedupe: str,
    stamp: str,
    config: Config,
) -> tuple[tuple[int, ...], int]:
    """The alerts of every recipient of `routed`: the first keeps the keys alerts always had,
    the others' keys name the recipient (one alert per recipient and channel)."""
    origin = _hoster(db, routed.origin_id)
    ids: list[int] = []
    suppressed = 0
    for n, to in enumerate(routed.recipients):
        hoster = _hoster(db, to.hoster_id)
        name = routed.edge if to.role == cdn_route.CDN else hoster["name"] if hoster else None
        subject = items.item(
            **fields,
            hoster=name,
            edge=routed.edge,
            route=to.role,
            origin_hoster=origin["name"] if origin else None,
        )
        made, dropped = _enqueue(
            db,
            kind=kind,
            hoster=hoster,
            hoster_id=to.hoster_id,
            url_key=url_key,
            ref=ref if n == 0 else f"{ref}|to:{to.role}",
            dedupe=dedupe,
            subject=subject,
            stamp=stamp,
            config=config,
        )
        ids += made
        suppressed += dropped
    return tuple(ids), suppressed


def _online_match(db: Database, report_id: int, reference: str | None) -> dict[str, Any] | None:
    """How the latest online check matched the reported material (algorithm, distance)."""
    row = _one(
        db,
        "SELECT algorithm, distance FROM checks WHERE report_id = ? AND "
        "outcome = 'online' AND algorithm IS NOT NULL ORDER BY checked_at DESC "
        "LIMIT 1",
        [report_id],
    )
    if row is None or row[1] is None:
        return None
    name = str(row[0]).lower()
    if name not in ALGORITHMS and name not in VIDEO_ALGORITHMS:
        return None
    return items.match_object(name, int(row[1]), {"type": "report", "reference": reference})


def record_reappearance(
    db: Database,
    *,
    report_id: int,
    seen_at: datetime | str,
    ip: str | None,
    hoster_id: int | None,
    config: Config,
    asn: int | None = None,
) -> ReappearanceResult:
    """Alert the serving hoster: a reported URL serves the material again after its takedown."""
    seen = _when(seen_at)
    stamp = clock.now_iso()
    with store.transaction(db):
        row = _one(
            db,
            "SELECT url, url_key, reference, takedown_at, first_down_at, asn "
            "FROM reports WHERE id = ?",
            [report_id],
        )
        if row is None:
            raise ValueError(f"no report with id {report_id}")
        url, url_key, reference, takedown_at, first_down_at, report_asn = row
        episode = takedown_at or first_down_at or seen
        values = dict(
            db.conn.execute(  # fixed-width hashes only: never a video signature's text
                "SELECT algorithm, min(hash) FROM report_hashes WHERE report_id = ? "
                f"AND algorithm IN ({','.join('?' * len(ALGORITHMS))}) "
                "GROUP BY algorithm ORDER BY algorithm",
                [report_id, *ALGORITHMS],
            ).fetchall()
        )
        fields = dict(
            kind="reappearance",
            url=url,
            page_url=None,
            first_seen_at=seen,
            last_seen_at=seen,
            ip=ip,
            asn=asn if asn is not None else report_asn,
            reference=reference,
            original_reference=reference,
            match=_online_match(db, report_id, reference),
            hashes=values,
        )
        routed = cdn_route.route(db, hoster_id=hoster_id, report_id=report_id, url=url)
        ids, suppressed = _enqueue_routed(
            db,
            routed,
            fields,
            kind="reappearance",
            url_key=url_key,
            ref=f"episode:{episode}",
            dedupe=items.dedupe_ref("reappearance", url_key, episode),
            stamp=stamp,
            config=config,
        )
    return ReappearanceResult(report_id, ids, suppressed)
