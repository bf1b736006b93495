"""The watch runner: scan every due watch source for re-uploads, then schedule its next scan.

A runner like monitor.runners.crawl (it reuses its Scrapy settings): it records the scan in `crawls`
(kind 'watch'), runs `WatchSpider` in this process's asyncio loop, and afterwards moves each
scanned source's `last_scan_at` to now and `next_scan_at` to now + its interval. A stop ends
the scan within seconds (monitor.runners.crawl.stop_crawler cuts the downloads in flight); an
interrupted scan leaves its sources due. What was found is already in the store: the
reuploads pipeline records each re-upload and its alerts as it goes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from scrapy.crawler import AsyncCrawlerRunner

from monitor import store
from monitor.core import clock
from monitor.core.config import Config
from monitor.runners.crawl import scrapy_settings, stop_crawler
from monitor.runners.run import crawl_run, monitor_stats
from spiders.spiders.watch import IMAGES_PER_PAGE, WatchSpider


@dataclass
class WatchSummary:
    crawl_id: int
    sources: int = 0
    pages: int = 0
    images: int = 0  # images hashed
    videos: int = 0  # videos hashed (vPDQ of their first bytes)
    found: int = 0  # confirmed matches recorded through the outbox
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
    return db.execute(
        "SELECT COUNT(*) FROM watch_sources WHERE next_scan_at <= ?", [now_iso]
    ).fetchone()[0]


def reschedule(db, source_ids: list[int], now=None) -> None:
    """last_scan_at = now, next_scan_at = now + interval_s, for each scanned source."""
    now = now or clock.now()
    with store.transaction(db):
        for sid, interval in db.execute(
            f"SELECT id, interval_s FROM watch_sources WHERE id IN "
            f"({','.join('?' * len(source_ids))})",
            source_ids,
        ).fetchall():
            db.execute(
                "UPDATE watch_sources SET last_scan_at = ?, next_scan_at = ? WHERE id = ?",
                [clock.iso(now), clock.iso(now + timedelta(seconds=int(interval))), sid],
            )


async def run_watch(
    db_path: str | os.PathLike[str] | None,
    config: Config,
    *,
    limit: int | None = None,
    source_ids: tuple[int, ...] = (),
    handle_signals: bool = False,
    hash_workers: int | None = None,
    images_per_page: int | None = None,
    stop: asyncio.Event | None = None,
    **setting_overrides: Any,
) -> WatchSummary:
    """Scan the watch sources due now (at most `limit`), then reschedule them. A stop (the
    `stop` event, or SIGINT/SIGTERM with `handle_signals`) ends the scan within seconds."""
    db = store.connect(db_path)
    planned = min(due_sources(db, clock.now_iso()), limit or 10**12)
    runner = AsyncCrawlerRunner(scrapy_settings(config, **setting_overrides))
    crawler = runner.create_crawler(WatchSpider)
    loop = asyncio.get_running_loop()
    try:
        with crawl_run(db, "watch", planned=planned, stop=stop) as run:
            result = WatchSummary(crawl_id=run.id)
            halted: list[str] = []

            def halt(signame: str) -> None:
                run.interrupt()
                if not halted:
                    halted.append(signame)
                    asyncio.ensure_future(stop_crawler(crawler))

            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, halt, sig.name)

            async def stopped() -> None:
                halt("stop")

            run.on_stop(stopped)
            completed = False
            try:
                await runner.crawl(
                    crawler,
                    db_path=str(store.db_path(db_path)),
                    config=config,
                    crawl_id=run.id,
                    limit=limit,
                    source_ids=source_ids,
                    hash_workers=config.crawl.hash_workers
                    if hash_workers is None
                    else hash_workers,
                    images_per_page=images_per_page or IMAGES_PER_PAGE,
                )
                completed = True
            finally:
                if handle_signals:
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        loop.remove_signal_handler(sig)
                stats = crawler.stats.get_stats() if crawler.stats else {}
                _fill(result, stats)
                result.interrupted = run.stopping
                scanned = sorted(getattr(crawler.spider, "sources", ()))  # the scanned sources
                if completed and not run.stopping and scanned:
                    reschedule(db, scanned)
                run.done, run.stats = len(scanned), monitor_stats(stats)
                result.seconds = run.seconds
    finally:
        db.conn.close()
    return result


def _fill(result: WatchSummary, stats: dict[str, Any]) -> None:
    def get(key: str) -> int:
        return int(stats.get(key, 0) or 0)

    result.sources = get("monitor/watch/sources")
    result.pages = get("monitor/watch/pages")
    result.images = get("monitor/watch/images/hashed")
    result.videos = get("monitor/watch/videos/hashed")
    result.found = get("monitor/reuploads/found")
    result.new_reuploads = get("monitor/reuploads/recorded")
    result.seen_again = get("monitor/reuploads/seen_again")
    result.alerts = get("monitor/reuploads/alerts")
    result.errors = {
        k.removeprefix("monitor/watch/error/"): int(v)
        for k, v in stats.items()
        if k.startswith("monitor/watch/error/")
    }
    result.errors.update(
        {
            k.removeprefix("monitor/reuploads/"): int(v)
            for k, v in stats.items()
            if k.startswith("monitor/reuploads/error/")
        }
    )
