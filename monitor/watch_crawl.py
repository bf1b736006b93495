"""The watch runner: scan every due watch source for re-uploads, then schedule its next scan.

A runner like monitor.crawl (it reuses its Scrapy settings): it records the scan in `crawls`
(kind 'watch'), runs `WatchSpider` in this process's asyncio loop, and afterwards moves each
scanned source's `last_scan_at` to now and `next_scan_at` to now + its interval. A stop ends
the scan within seconds (monitor.crawl.stop_crawler cuts the downloads in flight); an
interrupted scan leaves its sources due. What was found is already in the store: the
reuploads pipeline records each re-upload and its alerts as it goes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from monitor import clock, store
from monitor.config import Config


@dataclass
class WatchSummary:
    crawl_id: int
    sources: int = 0
    pages: int = 0
    images: int = 0          # images hashed
    found: int = 0           # confirmed matches recorded through the outbox
    new_reuploads: int = 0
    seen_again: int = 0
    alerts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0


def due_sources(db, now_iso: str) -> int:
    return db.execute("SELECT COUNT(*) FROM watch_sources WHERE next_scan_at <= ?",
                      [now_iso]).fetchone()[0]


def reschedule(db, source_ids: list[int], now=None) -> None:
    """last_scan_at = now, next_scan_at = now + interval_s, for each scanned source."""
    now = now or clock.now()
    with store.transaction(db):
        for sid, interval in db.execute(
                f"SELECT id, interval_s FROM watch_sources WHERE id IN "
                f"({','.join('?' * len(source_ids))})", source_ids).fetchall():
            db.execute("UPDATE watch_sources SET last_scan_at = ?, next_scan_at = ? WHERE id = ?",
                       [clock.iso(now), clock.iso(now + timedelta(seconds=int(interval))), sid])


async def run_watch(db_path: str | os.PathLike[str] | None, config: Config, *,
                    limit: int | None = None, source_ids: tuple[int, ...] = (),
                    handle_signals: bool = False, hash_workers: int | None = None,
                    images_per_page: int | None = None, stop: asyncio.Event | None = None,
                    **setting_overrides: Any) -> WatchSummary:
    """Scan the watch sources due now (at most `limit`), then reschedule them. A stop (the
    `stop` event, or SIGINT/SIGTERM with `handle_signals`) ends the scan within seconds."""
    from scrapy.crawler import AsyncCrawlerRunner

    from monitor.crawl import scrapy_settings, stop_crawler
    from spiders.spiders.watch import IMAGES_PER_PAGE, WatchSpider

    db = store.connect(db_path)
    started = time.monotonic()
    now_iso = clock.now_iso()
    planned = min(due_sources(db, now_iso), limit or 10**12)
    crawl_id = db.execute(
        "INSERT INTO crawls (kind, started_at, status, planned, pid) VALUES "
        "('watch', ?, 'running', ?, ?)", [now_iso, planned, os.getpid()]).lastrowid
    assert crawl_id is not None  # an INSERT's rowid
    result = WatchSummary(crawl_id=crawl_id)
    runner = AsyncCrawlerRunner(scrapy_settings(config, **setting_overrides))
    crawler = runner.create_crawler(WatchSpider)
    loop = asyncio.get_running_loop()
    stopping: list[str] = []

    def halt(signame: str) -> None:
        if not stopping:
            stopping.append(signame)
            asyncio.ensure_future(stop_crawler(crawler))

    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, halt, sig.name)

    async def watch_stop() -> None:
        assert stop is not None
        await stop.wait()
        halt("stop")

    watcher = asyncio.ensure_future(watch_stop()) if stop is not None else None
    if stop is not None and stop.is_set():
        halt("stop")
    status = "finished"
    try:
        await runner.crawl(
            crawler, db_path=str(store.db_path(db_path)), config=config, crawl_id=crawl_id,
            limit=limit, source_ids=source_ids,
            hash_workers=config.crawl.hash_workers if hash_workers is None else hash_workers,
            images_per_page=images_per_page or IMAGES_PER_PAGE)
    except BaseException:
        status = "failed"
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if stopping:
            status = "interrupted"
        stats = crawler.stats.get_stats() if crawler.stats else {}
        _fill(result, stats)
        result.interrupted = bool(stopping)
        spider = crawler.spider
        scanned = sorted(getattr(spider, "sources", ()))  # the WatchSpider's scanned sources
        if status == "finished" and scanned:
            reschedule(db, scanned)
        db.execute("UPDATE crawls SET finished_at = ?, status = ?, done = ?, stats = ? "
                   "WHERE id = ?", [clock.now_iso(), status, len(scanned),
                                    json.dumps({k: v for k, v in stats.items()
                                                if k.startswith("monitor/")}), crawl_id])
        result.seconds = time.monotonic() - started
        db.conn.close()
    return result


def _fill(result: WatchSummary, stats: dict[str, Any]) -> None:
    def get(key: str) -> int:
        return int(stats.get(key, 0) or 0)
    result.sources = get("monitor/watch/sources")
    result.pages = get("monitor/watch/pages")
    result.images = get("monitor/watch/images/hashed")
    result.found = get("monitor/reuploads/found")
    result.new_reuploads = get("monitor/reuploads/recorded")
    result.seen_again = get("monitor/reuploads/seen_again")
    result.alerts = get("monitor/reuploads/alerts")
    result.errors = {k.removeprefix("monitor/watch/error/"): int(v) for k, v in stats.items()
                     if k.startswith("monitor/watch/error/")}
    result.errors.update({k.removeprefix("monitor/reuploads/"): int(v) for k, v in stats.items()
                          if k.startswith("monitor/reuploads/error/")})
