"""WatchSpider: scan watch sources (pages, galleries) for re-uploads of reported material.

Per due watch source a bounded, same-site, polite focused crawl: the source page and the pages
it links on the same host, up to the source's `depth` (links followed from the source page)
and `max_pages` (pages fetched, the source page included). Every page's image links (img
src/srcset, og:image, links to image files; `IMAGES_PER_PAGE` at most) are fetched once per
scan, hashed in memory and dropped; only a `SeenImage` (hashes, URL, page, IP) leaves the
spider. Requests carry a download slot per site (spiders.spiders.recheck.slot_for) so the
per-hoster concurrency and AutoThrottle apply. Failures are counted under `monitor/watch/`
and never stop the scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urlsplit

from scrapy import Request
from scrapy.http import Response

from monitor import clock, store
from monitor.config import Config, load
from spiders.base import HashingSpider, slot_for
from spiders.hashing import Hasher
from spiders.observe import IMAGE_EXTENSIONS, error_kind, image_links, looks_html
from spiders.pipelines.reuploads import seen_image

IMAGES_PER_PAGE = 50
LINKS_PER_PAGE = 500
IMAGE_PRIORITY = 10  # images before further pages: memory stays bounded, finds come early


@dataclass
class Source:
    """One watch source being scanned: its bounds and what this scan has queued."""
    id: int
    url: str
    netloc: str
    depth: int
    max_pages: int
    pages: set[str] = field(default_factory=set)


class WatchSpider(HashingSpider):
    name = "watch"
    custom_settings = {
        "ITEM_PIPELINES": {"spiders.pipelines.reuploads.ReuploadPipeline": 400},
        "DEPTH_LIMIT": 0,           # our own bound per source (Scrapy's counts redirects too)
    }

    def __init__(self, db_path: str | None = None, config: Config | None = None,
                 crawl_id: int | None = None, limit: int | None = None,
                 source_ids: tuple[int, ...] = (), hash_workers: int = 0,
                 images_per_page: int = IMAGES_PER_PAGE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_path = db_path
        self.config = config or load()
        self.crawl_id = crawl_id
        self.limit = int(limit) if limit else None
        self.source_ids = tuple(int(s) for s in source_ids)
        self.images_per_page = int(images_per_page)
        self.hasher = Hasher(int(hash_workers))
        self.sources: dict[int, Source] = {}
        self.images: set[str] = set()   # image URLs fetched in this crawl (once each)

    def _inc(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(f"monitor/watch/{key}", count)

    # -- what is due -----------------------------------------------------------------------------

    def due_sources(self) -> list[Source]:
        db = store.connect(self.db_path)
        try:
            sql = ("SELECT id, url, depth, max_pages FROM watch_sources WHERE next_scan_at <= ?")
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
        return [Source(sid, url, urlsplit(url).netloc.lower(), max(0, int(depth)),
                       max(1, int(max_pages))) for sid, url, depth, max_pages in rows]

    async def start(self):
        await self.hasher.start()
        for source in self.due_sources():
            self.sources[source.id] = source
            self._inc("sources")
            request = self._page(source, source.url, 0)
            if request is not None:
                yield request

    def _page(self, source: Source, url: str, depth: int) -> Request | None:
        url = urldefrag(url)[0]
        if url in source.pages:
            return None
        if len(source.pages) >= source.max_pages:
            self._inc("bounded/max_pages")
            return None
        source.pages.add(url)
        return Request(url, callback=self.parse_page, errback=self.failed, dont_filter=True,
                       meta={"source_id": source.id, "watch_depth": depth, "kind": "page",
                             "download_slot": slot_for(url, None)})

    # -- a page ----------------------------------------------------------------------------------

    async def parse_page(self, response: Response):
        meta = response.meta
        source = self.sources[meta["source_id"]]
        self._inc(f"pages/status/{response.status}")
        if not 200 <= response.status < 300:
            return
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1") or None
        if not looks_html(content_type, response.body):
            # the source (or a link) is an image itself: hash it where it is
            async for item in self._hash(response, page_url=response.url):
                yield item
            return
        self._inc("pages")
        for link in image_links(response, limit=self.images_per_page):
            if link in self.images:
                continue
            self.images.add(link)
            self._inc("images/queued")
            yield Request(link, callback=self.parse_image, errback=self.failed,
                          dont_filter=True, priority=IMAGE_PRIORITY,
                          meta={"source_id": source.id, "page_url": response.url,
                                "kind": "image", "download_slot": slot_for(link, None)})
        depth = meta["watch_depth"]
        if depth >= source.depth:
            return
        if urlsplit(response.url).netloc.lower() != source.netloc:
            return                          # redirected off the site: follow nothing from here
        for link in self._links(response, source):
            request = self._page(source, link, depth + 1)
            if request is not None:
                yield request

    def _links(self, response: Response, source: Source) -> list[str]:
        """Same-host page links (not image files), in page order, bounded."""
        out: list[str] = []
        for href in response.css("a::attr(href)").getall()[:LINKS_PER_PAGE]:
            url = urldefrag(response.urljoin(href.strip()))[0]
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != source.netloc:
                self._inc("links/offsite")
                continue
            if parts.path.lower().endswith(IMAGE_EXTENSIONS):
                continue
            out.append(url)
        return out

    # -- an image --------------------------------------------------------------------------------

    async def parse_image(self, response: Response):
        self._inc(f"images/status/{response.status}")
        if response.status != 200:
            return
        async for item in self._hash(response, page_url=response.meta["page_url"]):
            yield item

    async def _hash(self, response: Response, *, page_url: str):
        h = await self.hasher.compute(response.body)
        if not h.ok:
            self._inc("images/not_image")
            return
        if not h.usable:
            self._inc("images/not_usable")
        self._inc("images/hashed")
        ip = str(response.ip_address) if response.ip_address else None
        yield seen_image(response.url, page_url, ip, h)

    # -- a failure -------------------------------------------------------------------------------

    def failed(self, failure):
        kind = error_kind(failure.value)
        what = failure.request.meta.get("kind", "page")
        self._inc(f"error/{what}/{kind}")
        self._inc("errors")
