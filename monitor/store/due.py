"""What is due: the checks a crawl owes at a given time, paged from the store.

One reader for both ways of crawling: the in-process RecheckSpider and the distributed
enqueuer (`crawl --redis URL --enqueue`). Reports are read 500 at a time in (next_check_at, id)
order, never all at once; each report's due slot comes from its timeline and the schedule
(monitor.store.summary.due_at), so a slot already observed is never due again. A report's removal
orders are part of that: their deadline slots come with its timeline (monitor.store.summary.load).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from monitor.core import clock
from monitor.core.config import Config
from monitor.store import summary
from monitor.store.sql import in_list

PAGE = 500


@dataclass(frozen=True)
class DueCheck:
    """One check owed: the report, its URL, the schedule slot it fills and its baseline."""

    report_id: int
    url: str
    due_at: str  # ISO-8601 UTC, unique per report
    baseline: tuple[tuple[str, str], ...] = ()  # (algorithm, hash)
    asn: int | None = None
    hoster: str | None = None  # attributed hoster name, when known


def _page_sql(hoster: str | None, report_ids: tuple[int, ...]) -> str:
    where = [
        "r.next_check_at IS NOT NULL",
        "r.next_check_at <= :now",
        "(r.next_check_at > :after_at OR (r.next_check_at = :after_at AND r.id > :after_id))",
    ]
    if hoster:
        where.append("r.hoster_id IN (SELECT id FROM hosters WHERE name = :hoster)")
    if report_ids:
        where.append(f"r.id IN ({in_list(report_ids)})")
    return (
        "SELECT r.id, r.url, r.next_check_at, r.asn, h.name FROM reports r "
        "LEFT JOIN hosters h ON h.id = r.hoster_id WHERE "
        + " AND ".join(where)
        + " ORDER BY r.next_check_at, r.id LIMIT :page"
    )


def iter_due(
    db: Database,
    config: Config,
    *,
    now: datetime | None = None,
    hoster: str | None = None,
    report_ids: tuple[int, ...] = (),
    limit: int | None = None,
    page: int = PAGE,
) -> Iterator[DueCheck]:
    """Every check due at `now` (default: the clock), in due order, at most `limit`."""
    now = now or clock.now()
    sql = _page_sql(hoster, tuple(report_ids))
    after_at, after_id, count = "", 0, 0
    while True:
        rows = db.execute(
            sql,
            {
                "now": clock.iso(now),
                "after_at": after_at,
                "after_id": after_id,
                "hoster": hoster,
                "page": page,
            },
        ).fetchall()
        if not rows:
            return
        after_at, after_id = rows[-1][2], rows[-1][0]
        ids = [r[0] for r in rows]
        timelines = summary.load(db, ids, config.takedown)
        baselines: dict[int, list[tuple[str, str]]] = {}
        for rid, algorithm, value in db.execute(
            f"SELECT report_id, algorithm, hash FROM report_hashes WHERE report_id "
            f"IN ({in_list(ids)}) ORDER BY id"
        ):
            baselines.setdefault(rid, []).append((algorithm, value))
        for rid, url, _next, asn, hoster_name in rows:
            due = summary.due_at(timelines[rid], config.schedule, now=now)
            if due is None or due > now:
                continue
            yield DueCheck(
                rid, url, clock.iso(due), tuple(baselines.get(rid, ())), asn, hoster_name
            )
            count += 1
            if limit and count >= limit:
                return
