"""The enqueuer (`crawl --redis URL --enqueue`): push what is due onto one Redis list per
hoster, each unit at most once per `requeue_after`.

A unit is a check slot (report id, due_at) or a watch scan (source id, its next_scan_at). It is
marked "sent" with an expiry; a worker that dies with it in hand leaves the slot due in SQLite
(nothing was stored), and once the mark expires the next enqueue sends it again. A slot that was
stored is no longer due, so it is never sent again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from monitor.core import clock
from monitor.core.config import Config
from monitor.distributed.keys import Keys, check_message, partition_of, watch_message
from monitor.store.due import iter_due

CHUNK = 500


@dataclass
class EnqueueSummary:
    checks: int = 0  # check slots pushed now
    already_sent: int = 0  # due, but dispatched less than requeue_after ago
    watch_scans: int = 0
    partitions: Counter = field(default_factory=Counter)


def _push(
    client: Any, keys: Keys, kind: str, units: list[tuple[str, str, str]], ttl_s: int
) -> tuple[int, Counter]:
    """Push (unit key, partition, message) units not sent recently; return (pushed, per part)."""
    pipe = client.pipeline(transaction=False)
    for unit, _part, _msg in units:
        pipe.set(keys.sent(kind, unit), clock.now_iso(), nx=True, ex=ttl_s)
    fresh = pipe.execute()
    pipe = client.pipeline(transaction=True)
    per: Counter = Counter()
    for ok, (_unit, part, msg) in zip(fresh, units, strict=True):
        if ok:
            pipe.lpush(keys.queue(kind, part), msg)
            per[part] += 1
    for part in per:
        pipe.sadd(keys.partitions(kind), part)
    if per:
        pipe.execute()
    return sum(per.values()), per


def enqueue_due(
    db: Database,
    config: Config,
    client: Any,
    *,
    now: datetime | None = None,
    hoster: str | None = None,
    report_ids: tuple[int, ...] = (),
    limit: int | None = None,
    watch: bool = True,
) -> EnqueueSummary:
    """Push every check (and watch scan) due at `now`; returns what was pushed."""
    now = now or clock.now()
    keys = Keys(config.distributed.key_prefix)
    ttl = max(1, int(config.distributed.requeue_after.total_seconds()))
    out = EnqueueSummary()
    chunk: list[tuple[str, str, str]] = []

    def flush() -> None:
        pushed, per = _push(client, keys, "recheck", chunk, ttl)
        out.checks += pushed
        out.already_sent += len(chunk) - pushed
        out.partitions.update(per)
        chunk.clear()

    for check in iter_due(db, config, now=now, hoster=hoster, report_ids=report_ids, limit=limit):
        chunk.append(
            (f"{check.report_id}:{check.due_at}", partition_of(check), check_message(check))
        )
        if len(chunk) >= CHUNK:
            flush()
    flush()
    if watch and not hoster and not report_ids:
        rows = db.execute(
            "SELECT id, url, depth, max_pages, next_scan_at FROM watch_sources "
            "WHERE next_scan_at <= ? ORDER BY next_scan_at, id",
            [clock.iso(now)],
        ).fetchall()

        units = [
            (
                f"{sid}:{due}",
                urlsplit(url).hostname or "unknown",
                watch_message(sid, url, depth, max_pages),
            )
            for sid, url, depth, max_pages, due in rows
        ]
        if units:
            out.watch_scans, per = _push(client, keys, "watch", units, ttl)
            out.partitions.update({f"watch {k}": v for k, v in per.items()})
    return out


def queue_depths(client: Any, config: Config) -> dict[str, int]:
    """Messages waiting per kind and partition ("recheck/Example Hosting": 120)."""
    keys = Keys(config.distributed.key_prefix)
    out: dict[str, int] = {}
    for kind in ("recheck", "watch"):
        for part in sorted(
            p.decode() if isinstance(p, bytes) else p
            for p in client.smembers(keys.partitions(kind))
        ):
            depth = client.llen(keys.queue(kind, part))
            if depth:
                out[f"{kind}/{part}"] = depth
    return out
