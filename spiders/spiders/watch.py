"""WatchSpider: scan watch sources (pages, galleries) for re-uploads of reported material.

Per due watch source a bounded, same-site, polite focused crawl: the source page and the pages
it links on the same host, up to the source's `depth` (links followed from the source page)
and `max_pages` (pages fetched, the source page included). Every page's image links (img
src/srcset, og:image, links to image files; `IMAGES_PER_PAGE` at most) are fetched once per
scan, hashed in memory and dropped; only hashes leave the spider, as one `SeenImages` item per
page (hashes, URL, page, IP of each image), which the re-upload pipeline matches as one batch.
A page's videos (video and source elements, og:video, links to video files) are read as
prefixes and hashed with vPDQ beside its images (spiders.watch_videos: one SeenVideos per page).

A page's images are fetched from its callback through `engine.download_async`, concurrently,
within the page's deadline (spiders.watch_images: one deadline per page scan, like a recheck's,
NTD_CHECK_DEADLINE; what arrived in time is seen, the rest counted as late). Going through the
scheduler, spider middlewares and a callback per image cost the crawl process more CPU per
image than hashing it does (bench/bench_watch.py). Requests carry a download slot per site
(spiders.base.slot_for) so the per-hoster concurrency and AutoThrottle apply to pages and
images alike. Failures are counted under `monitor/watch/` and never stop the scan. Whether a
response is a page or an image is decided by its bytes (spiders.observe.looks_html: image bytes
are an image even when served as text/html), and every image body is hashed whatever its
Content-Type.

Sources start in turns across download slots, and a page (a source's, or one a page links)
is requested only while its slot has fewer than NTD_WATCH_PAGES_PER_SLOT pages open and the
scan fewer than NTD_WATCH_OPEN_PAGES (spiders.page_gate; default twice the per-hoster and the
total concurrency): page parsing stays a little ahead of the image fetches instead of
front-loading the whole scan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urlsplit

from scrapy import Request, signals
from scrapy.http import Response

from hashes.video import looks_like_video
from hashes.video_compare import QUERY_SECONDS_PER_HASH
from monitor import store
from monitor.core import clock
from monitor.core.config import Config, load
from spiders import deadline
from spiders.base import HashingSpider, slot_for
from spiders.hashing import Hasher
from spiders.items import SeenImages, SeenVideos, Writer
from spiders.observe import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    error_kind,
    image_links,
    looks_html,
    video_links,
)
from spiders.page_gate import PageGate, by_slot, take, take_turns
from spiders.pipelines.reuploads import seen_image
from spiders.video_prefix import prefix_of, video_meta
from spiders.watch_images import PageImages, ip_of
from spiders.watch_videos import VIDEOS_PER_PAGE, PageVideos, seen_video

logger = logging.getLogger(__name__)

IMAGES_PER_PAGE = 50
# Seconds a page waits for room on the gate before it opens anyway (a page whose end went
# unnoticed must never stall a scan; `monitor/watch/gate/timeouts` counts it).
GATE_PATIENCE = 60.0
LINKS_PER_PAGE = 500


@dataclass
class Source:
    """One watch source being scanned: its bounds and what this scan has queued."""

    id: int
    url: str
    netloc: str
    depth: int
    max_pages: int
    pages: set[str] = field(default_factory=set)


class WatchSpider(PageImages, PageVideos, HashingSpider):
    name = "watch"
    warm_index = True  # every image is matched: the re-upload index is built from the start
    custom_settings = {
        "ITEM_PIPELINES": {"spiders.pipelines.reuploads.ReuploadPipeline": 400},
        "DEPTH_LIMIT": 0,  # our own bound per source (Scrapy's counts redirects too)
    }

    def __init__(
        self,
        db_path: str | None = None,
        config: Config | None = None,
        crawl_id: int | None = None,
        limit: int | None = None,
        source_ids: tuple[int, ...] = (),
        hash_workers: int = 0,
        images_per_page: int = IMAGES_PER_PAGE,
        writer: Writer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.writer = writer  # distributed workers: the stream; in process none (see
        self.db_path = db_path  # spiders.pipelines.store: images go to the re-upload pipeline)
        self.config = config or load()
        self.crawl_id = crawl_id
        self.limit = int(limit) if limit else None
        self.source_ids = tuple(int(s) for s in source_ids)
        self.images_per_page = int(images_per_page)
        self.hasher = Hasher(int(hash_workers))
        self.sources: dict[int, Source] = {}
        self.images: set[str] = set()  # image URLs fetched in this crawl (once each)
        self._room: asyncio.Semaphore | None = None
        self.gate = PageGate(8, 128)  # sized from the crawl's settings (from_crawler)
        self.patience = GATE_PATIENCE
        self.page_seconds = deadline.DEFAULT_SECONDS  # NTD_CHECK_DEADLINE (from_crawler)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.gate = PageGate(
            settings.getint("NTD_WATCH_PAGES_PER_SLOT")
            or 2 * settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"),
            settings.getint("NTD_WATCH_OPEN_PAGES") or 2 * settings.getint("CONCURRENT_REQUESTS"),
        )
        spider.patience = settings.getfloat("NTD_WATCH_GATE_PATIENCE", GATE_PATIENCE)
        spider.page_seconds = deadline.budget(settings)
        crawler.signals.connect(spider._dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider._gate_stats, signal=signals.spider_closed)
        return spider

    def _gate_stats(self) -> None:
        self.crawler.stats.set_value("monitor/watch/gate/most_open", self.gate.most)
        if self.gate.open_total:  # pages whose end went unnoticed (a test asserts none)
            self.crawler.stats.set_value("monitor/watch/gate/open_at_close", self.gate.open_total)

    def _inc(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(f"monitor/watch/{key}", count)

    # -- what is due -----------------------------------------------------------------------------

    def due_sources(self) -> list[Source]:
        db = store.connect(self.db_path)
        try:
            sql = "SELECT id, url, depth, max_pages FROM watch_sources WHERE next_scan_at <= ?"
            params: list[Any] = [clock.now_iso()]
            if self.source_ids:
                sql += f" AND id IN ({','.join('?' * len(self.source_ids))})"
                params += list(self.source_ids)
            sql += " ORDER BY next_scan_at, id"
            if self.limit:
                sql += f" LIMIT {int(self.limit)}"
            rows = db.execute(sql, params).fetchall()
        finally:
            db.conn.close()
        return [
            Source(
                sid, url, urlsplit(url).netloc.lower(), max(0, int(depth)), max(1, int(max_pages))
            )
            for sid, url, depth, max_pages in rows
        ]

    async def start(self):
        await self.hasher.start()
        waiting = by_slot(self.due_sources(), lambda s: slot_for(s.url, None))
        while waiting:
            turn = take_turns(waiting, self.gate)
            if not turn and not await self.gate.wait(self.patience):
                self._gate_timeout()  # open one more page rather than ever stall
                slot = next(iter(waiting))
                turn = [(slot, take(waiting, slot))]
            for _, source in turn:
                self.sources[source.id] = source
                self._inc("sources")
                request = self._page(source, source.url, 0)
                if request is not None:
                    yield request

    def _page(self, source: Source, url: str, depth: int) -> Request | None:
        """The request of a page of `source`, opened on the gate (None: not to be fetched)."""
        claimed = self._claim(source, url)
        return self._open(source, claimed, depth) if claimed is not None else None

    def _claim(self, source: Source, url: str) -> str | None:
        """`url` without its fragment, counted as one of the source's pages; None when the
        source has it already or has reached its max_pages."""
        url = urldefrag(url)[0]
        if url in source.pages:
            return None
        if len(source.pages) >= source.max_pages:
            self._inc("bounded/max_pages")
            return None
        source.pages.add(url)
        return url

    def _open(self, source: Source, url: str, depth: int) -> Request:
        slot = slot_for(url, None)
        self.gate.opened(slot)  # closed when the page and its images are done, or it failed
        return Request(
            url,
            callback=self.parse_page,
            errback=self.failed,
            dont_filter=True,
            meta={
                "source_id": source.id,
                "watch_depth": depth,
                "kind": "page",
                "download_slot": slot,
                "watch_slot": slot,
                deadline.SECONDS: self.page_seconds,
                **video_meta(self.config.crawl.video_prefix_bytes, known=False),
            },
        )

    def _page_done(self, request: Request) -> None:
        """Close the page on the gate (once: later calls for the same request do nothing)."""
        slot = request.meta.pop("watch_slot", None)
        if slot is not None:
            self.gate.closed(slot)

    async def _room_for(self, slot: str) -> None:
        """Wait until `slot` has room for one more open page (or the patience ran out)."""
        while not self.gate.room(slot):
            if not await self.gate.wait(self.patience):
                self._gate_timeout()
                return

    def _gate_timeout(self) -> None:
        self._inc("gate/timeouts")
        logger.warning(
            "no watch page finished in %.0f s; opening the next page anyway (%d pages open)",
            self.patience,
            self.gate.open_total,
        )

    # -- a page ----------------------------------------------------------------------------------

    async def parse_page(self, response: Response):
        """A page: its images fetched and hashed (one SeenImages item), then the same-site
        pages it links, while the source's depth allows. The page is open on the gate until its
        images are done; each page it links then waits for room on the gate like a source."""
        try:
            async for out in self._scan_page(response):
                yield out
        finally:
            if response.request is not None:
                self._page_done(response.request)

    async def _scan_page(self, response: Response):
        meta = response.meta
        source = self.sources[meta["source_id"]]
        self._inc(f"pages/status/{response.status}")
        if not 200 <= response.status < 300:
            return
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1") or None
        if looks_like_video(response.body):  # the source (or a link) is a video itself
            v = await self.hasher.compute_video(
                response.body,
                partial=prefix_of(response).partial,
                seconds_per_hash=QUERY_SECONDS_PER_HASH,
            )
            if v.ok and v.signature is not None:
                yield SeenVideos(
                    response.url, (seen_video(response.url, response.url, ip_of(response), v),)
                )
            return
        if not looks_html(content_type, response.body):
            # the source (or a link) is an image itself: hash it where it is
            h = await self.hasher.compute(response.body)
            counts: Counter[str] = Counter()
            if self._is_image(h, counts):
                yield seen_image(response.url, response.url, ip_of(response), h)
            self._count(counts)
            return
        self._inc("pages")
        links = [
            link
            for link in image_links(response, limit=self.images_per_page)
            if link not in self.images
        ]
        self.images.update(links)
        videos = [
            link for link in video_links(response, limit=VIDEOS_PER_PAGE) if link not in self.images
        ]
        self.images.update(videos)
        at = time.monotonic() + deadline.time_left(meta, self.page_seconds)
        if links or videos:
            seen, seen_videos = await asyncio.gather(
                self._images(links, response.url, at), self._videos(videos, response.url, at)
            )
            if seen:
                yield SeenImages(response.url, seen)
            if seen_videos:
                yield SeenVideos(response.url, seen_videos)
        depth = meta["watch_depth"]
        if depth >= source.depth:
            return
        if urlsplit(response.url).netloc.lower() != source.netloc:
            return  # redirected off the site: follow nothing from here
        links = self._links(response, source)
        if links and response.request is not None:
            self._page_done(response.request)  # its images are done: its links wait for room
        for link in links:
            url = self._claim(source, link)
            if url is not None:
                await self._room_for(slot_for(url, None))
                yield self._open(source, url, depth + 1)

    def _links(self, response: Response, source: Source) -> list[str]:
        """Same-host page links (not image files), in page order, bounded."""
        out: list[str] = []
        for href in response.css("a::attr(href)").getall()[:LINKS_PER_PAGE]:
            url = urldefrag(response.urljoin(href.strip()))[0]
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != source.netloc:
                self._inc("links/offsite")
                continue
            if parts.path.lower().endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS):
                continue
            out.append(url)
        return out

    # -- a failure (of a page; an image's is counted where it is fetched) --------------------------

    def failed(self, failure):
        kind = error_kind(failure.value)
        what = failure.request.meta.get("kind", "page")
        self._inc(f"error/{what}/{kind}")
        self._inc("errors")
        self._page_done(failure.request)

    def _dropped(self, request: Request) -> None:
        if request.meta.get("source_id") is not None:  # a page of ours the scheduler refused
            self._inc("error/page/dropped")
            self._page_done(request)
