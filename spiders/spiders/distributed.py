"""The spiders of a distributed worker: the recheck and watch spiders fed from Redis.

Each takes work only from the hoster queues it holds a lease on (monitor.distributed.leases), keeps
a
bounded window in flight (scrapy-redis's scheduler holds that window in Redis), and sends every
observation to the Redis stream (spiders.pipelines.stream) for the single writer. Fetching,
hashing and classifying are exactly the in-process spiders' (these are subclasses), so a
distributed crawl records what a single-process crawl would.

scrapy-redis 0.9.1 predates Scrapy's `async def start()`: its RedisSpider feeds start requests
from the `spider_idle` signal and one list key. We use its scheduler, queue and dupefilter as
they are, and feed requests from an `async def start()` of our own that reads many partitioned
queues under leases, which RedisSpider cannot do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request

from monitor.core import clock
from monitor.distributed.conn import connect
from monitor.distributed.keys import Keys, parse_check
from monitor.distributed.leases import PartitionLeases
from spiders.spiders.recheck import RecheckSpider
from spiders.spiders.watch import Source, WatchSpider

POLL = 0.05
REFRESH = 0.25  # seconds between lease renewals: a joining worker gets its share fast
LOST_AFTER = 2.0  # seconds Scrapy holds none of the requests counted in flight: they are lost


@dataclass(frozen=True)
class ScanDone:
    """A watch scan finished on a worker: the writer reschedules the source."""

    source_id: int
    finished_at: str
    pages: int


class _RedisFed:
    """Lease-driven feeding shared by both spiders."""

    kind = ""
    worker = "worker"
    idle_exit = 0.0
    window = 64
    lease_s = 30.0

    def _setup_redis(self) -> None:
        settings = self.crawler.settings  # type: ignore[attr-defined]
        self.redis = connect(settings.get("REDIS_URL"))
        self.keys = Keys(settings.get("NTD_KEY_PREFIX", "ntd"))
        self.inflight: Counter[str] = Counter()

    async def _feed(self, make) -> Any:
        """Yield requests made by `make(partition, message)` while work keeps coming."""
        leases = PartitionLeases(self.redis, self.keys, self.kind, self.worker, self.lease_s)
        quiet_since = time.monotonic()
        next_refresh = 0.0
        lost_since: float | None = None
        try:
            while True:
                now = time.monotonic()
                if now >= next_refresh:
                    leases.refresh(busy=[p for p, n in self.inflight.items() if n > 0])
                    next_refresh = now + min(REFRESH, self.lease_s / 3)
                room = self.window - sum(self.inflight.values())
                got = leases.take(room) if room > 0 else []
                for part, message in got:
                    request = make(part, message)
                    if request is not None:
                        self.inflight[part] += 1
                        yield request
                if got:
                    quiet_since = now
                    continue
                if sum(self.inflight.values()):
                    quiet_since = now
                    if not self._scrapy_holds_anything():
                        lost_since = lost_since or now
                        if now - lost_since >= LOST_AFTER:
                            self._forget_lost()
                            lost_since = None
                    else:
                        lost_since = None
                elif room > 0:
                    next_refresh = 0.0  # nothing held has work: look for other queues
                    if self.idle_exit and now - quiet_since >= self.idle_exit:
                        return
                await asyncio.sleep(POLL)
        finally:
            leases.release_all()

    def _scrapy_holds_anything(self) -> bool:
        """Whether any request is still somewhere in Scrapy: being downloaded, in a callback or
        pipeline, or waiting in this worker's scheduler queue (a Redis list)."""
        engine = self.crawler.engine  # type: ignore[attr-defined]
        slot = engine.scraper.slot
        if engine.downloader.active or (slot is not None and not slot.is_idle()):
            return True
        return bool(self.redis.llen(self._window_key))

    @property
    def _window_key(self) -> str:
        settings = self.crawler.settings  # type: ignore[attr-defined]
        return str(settings.get("SCHEDULER_QUEUE_KEY")) % {"spider": self.name}  # type: ignore[attr-defined]

    def _forget_lost(self) -> None:
        """Requests counted in flight that Scrapy no longer holds were lost between Redis and
        this worker (a reply lost in a reconnect: redis-py ran RPOP again). Their work is not
        acknowledged, so the enqueuer sends it again; stop waiting for them."""
        lost = sum(self.inflight.values())
        self.inflight.clear()
        self.crawler.stats.inc_value("monitor/redis/lost_requests", lost)  # type: ignore[attr-defined]
        self.logger.warning(  # type: ignore[attr-defined]
            "%d request(s) of this worker's window lost in transit (a Redis reply lost in a "
            "reconnect); their work is not acknowledged and will be sent again",
            lost,
        )

    def _settle(self, partition: str | None) -> None:
        if partition is not None and self.inflight[partition] > 0:
            self.inflight[partition] -= 1


class RedisRecheckSpider(_RedisFed, RecheckSpider):
    name = "recheck_redis"
    kind = "recheck"

    def __init__(
        self,
        config: Any = None,
        worker: str = "worker",
        idle_exit: float = 0,
        window: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(db_path=None, config=config, **kwargs)
        self.worker = worker
        self.idle_exit = float(idle_exit)
        self.window = int(window) or 2 * self.config.crawl.concurrent_requests
        self.lease_s = self.config.distributed.lease.total_seconds()

    async def start(self):
        self._setup_redis()
        await self.hasher.start()
        self.placeholders = {
            k.decode(): v.decode() for k, v in self.redis.hgetall(self.keys.placeholders).items()
        }
        async for request in self._feed(self._request):
            yield request

    def _request(self, partition: str, message: bytes) -> Request:
        return self.request_for(parse_check(message), partition=partition)

    async def parse(self, response):
        try:
            async for out in super().parse(response):
                yield out
        finally:
            self._settle(response.meta.get("partition"))

    def failed(self, failure):
        try:
            yield from super().failed(failure)
        finally:
            self._settle(failure.request.meta.get("partition"))

    async def _probe(self, host: str, response) -> None:
        """A placeholder another worker learned is used as is; else learn it (and share it:
        the stream pipeline writes it to the shared hash)."""
        known = self.redis.hget(self.keys.placeholders, host)
        if known:
            self.placeholders[host] = known.decode()
            return
        await super()._probe(host, response)


class RedisWatchSpider(_RedisFed, WatchSpider):
    name = "watch_redis"
    kind = "watch"
    custom_settings = {"DEPTH_LIMIT": 0}

    def __init__(
        self,
        config: Any = None,
        worker: str = "worker",
        idle_exit: float = 0,
        window: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(db_path=None, config=config, **kwargs)
        self.worker = worker
        self.idle_exit = float(idle_exit)
        self.window = int(window) or 4  # sources scanned at once
        self.lease_s = self.config.distributed.lease.total_seconds()
        self.pending: Counter[int] = Counter()  # requests in flight per source
        self.partition_of: dict[int, str] = {}

    async def start(self):
        self._setup_redis()
        await self.hasher.start()
        async for request in self._feed(self._scan):
            yield request

    def _scan(self, partition: str, message: bytes) -> Request | None:

        data = json.loads(message)
        sid = int(data["source_id"])
        if sid in self.sources:
            return None  # already scanning it here
        if not self.sources:
            self.images.clear()  # once per scan, not once per worker life
        url = data["url"]
        source = Source(
            sid,
            url,
            (urlsplit(url).netloc or "").lower(),
            max(0, int(data["depth"])),
            max(1, int(data["max_pages"])),
        )
        self.sources[sid] = source
        self.partition_of[sid] = partition
        self._inc("sources")
        request = self._page(source, url, 0)
        if request is not None:
            self.pending[sid] += 1
        return request

    def _forget_lost(self) -> None:
        """The scans whose requests were lost are abandoned here; their messages are re-sent."""
        self.sources.clear()
        self.pending.clear()
        self.partition_of.clear()
        super()._forget_lost()

    def _track(self, out: Any) -> Any:
        if isinstance(out, Request) and "source_id" in out.meta:
            self.pending[out.meta["source_id"]] += 1
        return out

    def _done(self, source_id: int) -> ScanDone | None:
        self.pending[source_id] -= 1
        if self.pending[source_id] > 0:
            return None
        source = self.sources.pop(source_id)
        del self.pending[source_id]
        self._settle(self.partition_of.pop(source_id, None))
        return ScanDone(source_id, clock.now_iso(), len(source.pages))

    async def parse_page(self, response):
        done = None
        try:
            async for out in super().parse_page(response):
                yield self._track(out)
        finally:
            done = self._done(response.meta["source_id"])
        if done is not None:
            yield done

    def failed(self, failure):
        done = None
        try:
            super().failed(failure)
        finally:
            sid = failure.request.meta.get("source_id")
            done = self._done(sid) if sid is not None else None
        if done is not None:
            yield done
