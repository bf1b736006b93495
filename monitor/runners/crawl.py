"""The crawl runner: run the recheck spider over what is due, then attribute what it saw.

The only module in monitor/ that imports Scrapy. It records the crawl in `crawls`, layers the
TOML config over spiders/settings.py, runs the spider in this process's asyncio loop
(reactorless Scrapy), shows progress, then runs the ASN stage for the new checks and refreshes
the touched summaries. A stop (SIGINT/SIGTERM) ends it within seconds: downloads in flight are
cut and record nothing (`cancel_downloads`), the writer flushes what was observed, the crawl
row says 'interrupted', and the ASN stage is left for the next run or `asn resolve`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scrapy import signals
from scrapy.crawler import AsyncCrawlerRunner
from scrapy.exceptions import IgnoreRequest
from scrapy.settings import Settings

from monitor import store
from monitor.attribution.asn import attribute_new_checks
from monitor.core import clock
from monitor.core.config import Config
from monitor.distributed.conn import connect, redis_params
from monitor.distributed.keys import Keys
from monitor.runners.run import crawl_run, monitor_stats
from monitor.runners.writer import CheckWriter
from spiders.pipelines.stream import StreamWriter
from spiders.spiders.distributed import RedisRecheckSpider, RedisWatchSpider
from spiders.spiders.recheck import RecheckSpider


@dataclass
class CrawlSummary:
    crawl_id: int
    planned: int = 0
    written: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    asn_resolved: int = 0

    @property
    def rate(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0


def scrapy_settings(config: Config, **overrides: Any) -> Settings:
    settings = Settings()
    settings.setmodule("spiders.settings", priority="project")
    c = config.crawl
    settings.setdict(
        {
            "USER_AGENT": c.user_agent,
            "DOWNLOAD_TIMEOUT": c.download_timeout.total_seconds(),
            "DOWNLOAD_MAXSIZE": c.max_download_bytes,
            "CONCURRENT_REQUESTS": c.concurrent_requests,
            "CONCURRENT_REQUESTS_PER_DOMAIN": c.per_hoster_concurrency,
            "AUTOTHROTTLE_ENABLED": c.autothrottle,
            "AUTOTHROTTLE_TARGET_CONCURRENCY": float(c.per_hoster_concurrency),
            "NTD_ALLOW_NETWORKS": list(c.allow_networks),
            "NTD_CHECK_DEADLINE": c.check_deadline.total_seconds(),
            "NTD_NAMESERVERS": list(c.nameservers),
            "LOG_ENABLED": False,
        },
        priority="cmdline",
    )
    settings.setdict(overrides, priority="cmdline")
    return settings


def due_count(db, now_iso: str) -> int:
    return db.execute(
        "SELECT COUNT(*) FROM reports WHERE next_check_at <= ?", [now_iso]
    ).fetchone()[0]


async def run_crawl(
    db_path: str | os.PathLike[str] | None,
    config: Config,
    *,
    limit: int | None = None,
    hoster: str | None = None,
    report_ids: tuple[int, ...] = (),
    on_progress: Callable[[int, int, dict[str, int]], None] | None = None,
    resolve_asn: bool = True,
    stop: asyncio.Event | None = None,
    spider: type | None = None,
    spider_args: dict[str, Any] | None = None,
    **setting_overrides: Any,
) -> CrawlSummary:
    """Crawl what is due now with the RecheckSpider (or `spider`, a subclass given
    `spider_args` too: the simulation's stepped spider walks the clock)."""

    db = store.connect(db_path)
    planned = min(due_count(db, clock.now_iso()), limit or 10**12)
    runner = AsyncCrawlerRunner(scrapy_settings(config, **setting_overrides))
    crawler = runner.create_crawler(spider or RecheckSpider)
    counts: dict[str, int] = {}

    def scraped(item, response=None, spider=None) -> None:
        outcome = getattr(item, "outcome", None)
        if outcome is None:
            return
        counts[outcome] = counts.get(outcome, 0) + 1
        if on_progress:
            on_progress(sum(counts.values()), planned, counts)

    crawler.signals.connect(scraped, signal=signals.item_scraped)
    with crawl_run(db, "recheck", planned=planned, stop=stop) as run:
        result = CrawlSummary(crawl_id=run.id)
        run.on_stop(lambda: stop_crawler(crawler))
        writer = CheckWriter(store.connect(db_path), config, crawl_id=run.id)
        try:
            await runner.crawl(
                crawler,
                db_path=str(store.db_path(db_path)),
                config=config,
                crawl_id=run.id,
                limit=limit,
                hoster=hoster,
                report_ids=report_ids,
                writer=writer,
                hash_workers=setting_overrides.get("hash_workers", config.crawl.hash_workers),
                **(spider_args or {}),
            )
        finally:
            writer.close()
            stats = crawler.stats.get_stats() if crawler.stats else {}
            result.planned = run.planned = int(stats.get("monitor/planned", 0))
            result.written = int(stats.get("monitor/written", 0))
            result.outcomes = {
                k.split("/")[-1]: int(v)
                for k, v in stats.items()
                if k.startswith("monitor/outcome/")
            }
            result.errors = {
                k.split("/")[-1]: int(v) for k, v in stats.items() if k.startswith("monitor/error/")
            }
            result.interrupted = run.stopping
            run.stats = monitor_stats(stats)
    if resolve_asn and not result.interrupted:
        result.asn_resolved = await attribute_unless_stopped(db, config, stop)
    result.seconds = run.seconds
    db.conn.close()
    return result


async def stop_crawler(crawler) -> None:
    """`crawler.stop_async()`, once its engine runs. Scrapy 2.19 drops a stop asked for before
    that (it clears `crawling`, and the engine starts anyway), and the crawl then never closes
    when it has finished: a SIGTERM in a crawl's first moments hung it. Returns at once if the
    crawl ends (or fails) before its engine runs."""
    # `_engine` is how Scrapy documents reading the engine before it is set
    while crawler._engine is None or not crawler._engine.running:
        if crawler._started and not crawler.crawling:
            return
        await asyncio.sleep(0.05)
    stopping = asyncio.ensure_future(crawler.stop_async())
    await asyncio.sleep(0)  # the engine is marked stopping: it takes no new request
    # cut again until the crawl has closed: a download whose connection opened just after a cut
    # (a request already inside the downloader's middlewares) would otherwise run to its timeout
    while not stopping.done():
        try:
            await cancel_downloads(crawler)
        except (AttributeError, TypeError) as exc:  # Scrapy's or aiohttp's insides changed:
            # the stop still happens, only slower (each download in flight runs to its timeout)
            logging.getLogger(__name__).warning("could not cut the downloads in flight: %s", exc)
            break
        await asyncio.wait({stopping}, timeout=0.25)
    await stopping


def _dropped(_failure) -> None:
    """The errback of a request a stop cancelled: nothing was observed, so nothing is stored
    (the check stays due for the next crawl)."""


async def cancel_downloads(crawler) -> None:
    """Cut what is in flight so a stop takes seconds, not a download timeout per queued
    request: requests in flight lose their errback (a cancelled download is no observation),
    requests queued in download slots are dropped, and the download handlers' connections in
    use are aborted. Responses already received are still parsed and
    stored. Scrapy 2.19 has no public way to do this (its stop waits for every download in
    flight); these are its downloader's and aiohttp's parts, each looked up defensively."""

    engine = crawler._engine
    if engine is None:
        return
    downloader = engine.downloader
    in_flight = set(downloader.active)
    if engine._slot is not None:
        in_flight |= engine._slot.inprogress
    for request in in_flight:
        request.errback = _dropped
    for slot in list(downloader.slots.values()):
        while slot.queue:
            request, queued = slot.queue.popleft()
            request.errback = _dropped
            queued.errback(IgnoreRequest("the crawl was stopped"))
    for handler in list(getattr(downloader.handlers, "_handlers", {}).values()):
        session = getattr(handler, "_session", None)  # Scrapy's aiohttp handler (ours)
        for proto in list(getattr(getattr(session, "connector", None), "_acquired", ())):
            transport = getattr(proto, "transport", None)
            if transport is not None:
                # the connection_lost that follows fails the body read in flight. Not
                # session.close(): aiohttp 3.14 detaches the reads from their connections
                # first, and they then wait for their timeout (Scrapy closes it at the end)
                transport.abort()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (for the running loop): stop cleanly, flush, exit."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event


async def attribute_unless_stopped(db, config: Config, stop: asyncio.Event | None) -> int:
    """The ASN stage, given up at once on a stop (`asn resolve` or the next crawl fills in
    what it left: every stage transaction is all or nothing)."""
    if stop is None:
        return await attribute(db, config)
    if stop.is_set():
        return 0
    task = asyncio.ensure_future(attribute(db, config))
    halt = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, halt}, return_when=asyncio.FIRST_COMPLETED)
    halt.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return 0
    return task.result()


async def attribute(db, config: Config) -> int:
    """The ASN stage: fill in ASN, prefix and hoster of new checks; refresh their reports."""
    return await attribute_new_checks(db, config)


@dataclass
class WorkerSummary:
    worker: str
    checks: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    watch_sources: int = 0
    images: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    lost: int = 0  # window requests lost between Redis and the worker (re-sent later)


def worker_settings(config: Config, redis_url: str, worker: str) -> Settings:
    """Our settings plus scrapy-redis's scheduler (one request queue per worker: the window it
    has in flight) and the stream pipeline instead of the SQLite one."""
    keys = Keys(config.distributed.key_prefix)
    safe = worker.replace("%", "_")
    return scrapy_settings(
        config,
        **{
            "SCHEDULER": "spiders.redis_scheduler.Scheduler",  # scrapy-redis, adapted
            "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.FifoQueue",
            "SCHEDULER_QUEUE_KEY": keys.scheduler_queue("%(spider)s", safe),
            "SCHEDULER_DUPEFILTER_KEY": keys.scheduler_dupefilter("%(spider)s", safe),
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "SCHEDULER_PERSIST": False,  # a dead worker's window is re-sent by the enqueuer
            "SCHEDULER_FLUSH_ON_START": True,
            "REDIS_URL": redis_url,
            "REDIS_PARAMS": redis_params(),
            "NTD_KEY_PREFIX": config.distributed.key_prefix,
            "ITEM_PIPELINES": {"spiders.pipelines.store.WriterPipeline": 300},
        },
    )


async def run_worker(
    config: Config,
    redis_url: str,
    *,
    worker: str | None = None,
    idle_exit: float = 0,
    stop: asyncio.Event | None = None,
    kinds: tuple[str, ...] = ("recheck", "watch"),
    on_progress: Callable[[int, int, dict[str, int]], None] | None = None,
) -> WorkerSummary:
    """Crawl from the Redis queues this worker can lease until stopped (or idle_exit s idle)."""

    connect(redis_url).close()  # a clear error now rather than inside Scrapy
    worker = worker or f"{os.uname().nodename}-{os.getpid()}"
    started = time.monotonic()
    runner = AsyncCrawlerRunner(worker_settings(config, redis_url, worker))
    classes = {"recheck": RedisRecheckSpider, "watch": RedisWatchSpider}
    crawlers = [runner.create_crawler(classes[k]) for k in kinds]
    writers = [StreamWriter.connect(redis_url, config.distributed.key_prefix) for _ in kinds]
    counts: dict[str, int] = {}

    def scraped(item, response=None, spider=None) -> None:
        outcome = getattr(item, "outcome", None)
        if outcome is not None:
            counts[outcome] = counts.get(outcome, 0) + 1
            if on_progress:
                on_progress(sum(counts.values()), 0, counts)

    for crawler in crawlers:
        crawler.signals.connect(scraped, signal=signals.item_scraped)
    stopping: list[bool] = []

    async def watch_stop() -> None:
        assert stop is not None
        await stop.wait()
        stopping.append(True)
        await asyncio.gather(*(stop_crawler(c) for c in crawlers))

    watcher = asyncio.ensure_future(watch_stop()) if stop is not None else None
    try:
        await asyncio.gather(
            *(
                runner.crawl(
                    c,
                    config=config,
                    worker=worker,
                    idle_exit=idle_exit,
                    writer=w,
                    hash_workers=config.crawl.hash_workers,
                )
                for c, w in zip(crawlers, writers, strict=True)
            )
        )
    finally:
        for w in writers:
            w.close()
        if watcher is not None:
            watcher.cancel()
    out = WorkerSummary(
        worker=worker,
        outcomes=dict(counts),
        interrupted=bool(stopping),
        seconds=time.monotonic() - started,
    )
    out.checks = sum(counts.values())
    for crawler in crawlers:
        stats = crawler.stats.get_stats() if crawler.stats else {}
        out.watch_sources += int(stats.get("monitor/watch/sources", 0))
        out.images += int(stats.get("monitor/watch/images/hashed", 0))
        out.lost += int(stats.get("monitor/redis/lost_requests", 0))
    return out
