"""RecheckSpider: re-check every due reported URL and say honestly whether it is still served.

`start()` pages through due reports from the store (monitor.store.due: 500 at a time, never all at
once; at most DUE_WINDOW unanswered). Each response is hashed in memory and compared with the
report's baseline; `monitor.core.classify` decides the outcome; one `CheckItem` per check goes to
the
store pipeline, after a `SeenImage` (re-upload matching) per image of a reported HTML page
(spiders.page_check). The body is dropped as soon as it is hashed: nothing fetched is stored,
logged or cached.

Headers and statuses are not trusted: every complete body is first tested against the
baseline's exact digest (the reported bytes need no decoding, whatever their Content-Type or
status); a body whose bytes are an image is hashed as one even when served as text/html
(spiders.observe.looks_html) or with 404, 410, 451, 403 or 5xx (Scrapy's HTTPERROR_ALLOW_ALL
hands every status to parse()); a match is `online` whatever the status (monitor.core.classify
rule 0). Only a 2xx HTML page that was not a redirect away is read for its images: a 404 page's
images are never fetched. Each check has one overall deadline (the setting
NTD_CHECK_DEADLINE, default 60 s; spiders.deadline) over its retries, redirects, placeholder
probe and page images. A body whose bytes are a video is judged by spiders.video_check (exact
digest when read whole, then vPDQ), usually from its first bytes only (spiders.video_prefix).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.http import Response

from hashes.compute import MediaHashes, hamming
from hashes.match import Comparison, compare_to_baseline
from hashes.video import looks_like_video
from monitor import store
from monitor.attribution.edge import edge_from_headers
from monitor.core import clock
from monitor.core.classify import Fetch, Outcome, classify
from monitor.core.config import Config, load
from monitor.store.due import iter_due
from spiders import deadline
from spiders.base import HashingSpider, slot_for
from spiders.hashing import Hasher, baseline_of, exact_match_async
from spiders.items import (
    CheckItem,
    PlaceholderItem,
    SeenImage,
    SeenImages,
    SeenVideo,
    SeenVideos,
    Writer,
)
from spiders.observe import error_kind, is_away, looks_html, looks_image, redirect_chain
from spiders.page_check import PageCheck
from spiders.video_check import VideoCheck
from spiders.video_prefix import prefix_of

# Due checks handed to Scrapy and not yet answered: Scrapy reads start() on while its downloader
# is full, so unbounded it could hold the whole backlog as Requests (2000: a few MB).
DUE_WINDOW = 2000
_slot_of = functools.lru_cache(maxsize=1 << 16)(slot_for)  # see _slot


class RecheckSpider(VideoCheck, PageCheck, HashingSpider):
    name = "recheck"

    def __init__(
        self,
        db_path: str | None = None,
        config: Config | None = None,
        crawl_id: int | None = None,
        limit: int | None = None,
        hoster: str | None = None,
        report_ids: tuple[int, ...] = (),
        hash_workers: int = 0,
        writer: Writer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.db_path = db_path
        self.config = config or load()
        self.crawl_id = crawl_id
        self.limit = int(limit) if limit else None
        self.hoster = hoster
        self.report_ids = tuple(int(r) for r in report_ids)
        self.hasher = Hasher(int(hash_workers))
        self.placeholders: dict[str, str | None] = {}
        self._probe_locks: dict[str, asyncio.Lock] = {}
        self._room = asyncio.Event()  # set whenever a due check's request is answered
        self.planned = 0
        self.answered = 0
        self.finished = 0
        self.writer = writer  # where observations go (spiders.pipelines.store)
        self.check_seconds = deadline.DEFAULT_SECONDS  # NTD_CHECK_DEADLINE (from_crawler)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.check_seconds = deadline.budget(crawler.settings)
        return spider

    # -- what is due ---------------------------------------------------------------------------

    async def start(self):
        self.hasher.start_soon()  # while the first due checks are read and fetched
        db = store.connect(self.db_path)
        try:
            self.placeholders = {
                h: v
                for h, v in db.execute(
                    "SELECT host, hash FROM placeholders WHERE algorithm = 'phash'"
                )
            }
            async for request in self._requests(db):
                yield request
        finally:
            db.conn.close()

    async def _requests(self, db):
        """What this crawl fetches: the checks due at the clock's now (a subclass may walk the
        clock, as the simulation's stepped spider does)."""
        async for request in self._due(db):
            yield request

    async def _due(self, db):
        """Requests for every report due at the clock's now (monitor.store.due pages the store)."""
        remaining = self.limit - self.planned if self.limit else None
        for check in iter_due(
            db, self.config, hoster=self.hoster, report_ids=self.report_ids, limit=remaining
        ):
            while self.planned - self.answered >= DUE_WINDOW:
                self._room.clear()
                await self._room.wait()
            yield self.request_for(check)

    def request_for(self, check, **meta: Any) -> Request:
        """The request of one due check (monitor.store.due.DueCheck), counted as planned."""
        self.planned += 1
        self.crawler.stats.inc_value("monitor/planned")
        baseline = list(check.baseline)
        video = self.video_request(baseline)  # a video is read as a prefix (spiders.video_check)
        return Request(
            check.url,
            callback=self.parse,
            errback=self.failed,
            dont_filter=True,
            headers=video["headers"],
            meta={
                "report_id": check.report_id,
                "due_at": check.due_at,
                "baseline": baseline,
                "download_slot": _slot(check.url, check.asn),
                "started": time.monotonic(),
                deadline.SECONDS: self.check_seconds,
                **video["meta"],
                **meta,
            },
        )

    def _answered(self) -> None:
        """A due check's request was answered (a response or a failure): room in the window."""
        self.answered += 1
        self._room.set()

    # -- a response ------------------------------------------------------------------------------

    async def parse(self, response: Response):
        self._answered()
        meta = response.meta
        body = response.body
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1") or None
        html = looks_html(content_type, body)  # never for a body whose bytes are an image
        requested = meta["redirect_urls"][0] if meta.get("redirect_urls") else response.url
        redirects = redirect_chain(response)
        away = bool(redirects) and is_away(requested, response.url, body, html)
        baseline = meta["baseline"]
        fetch = Fetch(
            url=requested,
            final_url=response.url,
            http_status=response.status,
            redirects=redirects,
            content_type=content_type,
            final_is_front_page=away,
        )
        new_baseline: tuple = ()
        seen: list[SeenImage] = []  # images of a reported page, yielded first
        seen_videos: list[SeenVideo] = []  # and its videos
        if response.status == 206 and not prefix_of(response).from_start:
            # a range we did not ask for (spiders.video_prefix): nothing here to judge
            fetch = replace(fetch, error="other")
        elif not 200 <= response.status < 300 or away:
            # No status or redirect outweighs the material being served (classify rule 0).
            fetch = await self._served(response, fetch, body, baseline)
        elif looks_like_video(body):  # by its bytes, whatever its headers say
            fetch, new_baseline = await self._video(response, fetch, body, baseline)
        else:
            # The reported bytes are the material whatever the headers say: no decoding.
            exact = await exact_match_async(body, baseline)
            if exact is not None:
                fetch = self._matched(replace(fetch, is_image=True), exact)
            elif html:
                fetch, new_baseline, seen, seen_videos = await self._page(response, fetch, baseline)
            else:
                fetch, new_baseline = await self._image(response, fetch, body, baseline)
        size = len(body)
        del body
        if seen:
            yield SeenImages(response.url, tuple(seen))
        if seen_videos:
            yield SeenVideos(response.url, tuple(seen_videos))
        outcome, reason = classify(fetch)
        self.crawler.stats.inc_value(f"monitor/outcome/{outcome}")
        self.finished += 1
        assert response.request is not None  # a callback's response always has its request
        yield self._item(
            response.request,
            outcome,
            reason,
            fetch,
            size=size,
            ip=str(response.ip_address) if response.ip_address else None,
            new_baseline=new_baseline,
            edge=edge_from_headers(response.headers),
        )

    async def _served(
        self, response: Response, fetch: Fetch, body: bytes, baseline: list[tuple[str, str]]
    ) -> Fetch:
        """A body that came with a non-2xx status, or after a redirect away: is it the reported
        material anyway? Its exact digest, then its perceptual hashes when its bytes are an
        image (spiders.observe.looks_image). Nothing more: no page's images (an ordinary 404
        page costs one request), no placeholder probe, no baseline taken from it."""
        if not baseline:
            return fetch
        exact = await exact_match_async(body, baseline)
        if exact is not None:
            return self._matched(replace(fetch, is_image=True), exact)
        if looks_like_video(body):  # only a match counts here; else the status decides
            seen, _ = await self._video(response, fetch, body, baseline)
            return seen if seen.matched else fetch
        if not looks_image(body):
            return fetch
        h = await self.hasher.compute(body)
        cmp = self._compare(baseline, h) if h.ok else None
        if cmp is None:
            return replace(fetch, is_image=h.ok, image_error=h.error)
        return self._matched(replace(fetch, is_image=True), cmp)

    async def _image(
        self, response: Response, fetch: Fetch, body: bytes, baseline: list[tuple[str, str]]
    ) -> tuple[Fetch, tuple]:
        """A body that is not an HTML page (an image, whatever its header): hash and compare."""
        h = await self.hasher.compute(body)
        if not h.ok:
            return replace(fetch, is_image=False, image_error=h.error), ()
        fetch = replace(fetch, is_image=True)
        if not baseline:
            # The first fetch becomes the baseline, unless it is the host's placeholder ("file
            # removed" image): material removed before its first check must not be baselined.
            if h.phash and await self._is_placeholder(response, h):
                return replace(fetch, matched=None, placeholder=True), ()
            return replace(fetch, matched=None), baseline_of(h)
        cmp = self._compare(baseline, h)
        if cmp is None:
            return replace(fetch, matched=False), ()
        fetch = self._matched(fetch, cmp)
        if not cmp.matched and h.phash:
            fetch = replace(fetch, placeholder=await self._is_placeholder(response, h))
        return fetch, ()

    @staticmethod
    def _matched(fetch: Fetch, cmp: Comparison) -> Fetch:
        return replace(fetch, matched=cmp.matched, distance=cmp.distance, algorithm=cmp.algorithm)

    def _compare(self, baseline, h: MediaHashes) -> Comparison | None:
        return compare_to_baseline(
            baseline,
            h,
            phash_threshold=self.config.hashes.phash_threshold,
            pdq_threshold=self.config.hashes.pdq_threshold,
        )

    async def _is_placeholder(self, response: Response, h: MediaHashes) -> bool:
        host = urlsplit(response.url).netloc.lower()
        lock = self._probe_locks.setdefault(host, asyncio.Lock())
        async with lock:  # one probe per host, and every check of it waits for the answer
            if host not in self.placeholders:
                await self._probe(host, response)
        known = self.placeholders.get(host)
        return bool(
            known and h.phash and hamming(known, h.phash) <= self.config.hashes.phash_threshold
        )

    async def _probe(self, host: str, response: Response) -> None:
        """Learn what `host` serves for a path that never existed (its placeholder)."""
        self.placeholders[host] = None
        parts = urlsplit(response.url)
        probe = f"{parts.scheme}://{parts.netloc}/ntd-probe-{secrets.token_hex(8)}.jpg"
        try:
            answer = await self.crawler.engine.download_async(
                Request(
                    probe,
                    dont_filter=True,
                    meta={
                        "download_slot": slot_for(probe, None),
                        deadline.AT: response.meta.get(deadline.AT),
                    },
                )
            )
            ph = await self.hasher.compute(answer.body)
            if ph.ok and ph.phash:
                self.placeholders[host] = ph.phash
                self.crawler.stats.inc_value("monitor/placeholders_learned")
                await self._emit(
                    PlaceholderItem(host, "phash", ph.phash, answer.status, clock.now_iso())
                )
        except Exception:  # noqa: BLE001 - no placeholder learnt for this host
            pass

    async def _emit(self, item: Any) -> None:
        """An item found outside a callback (a placeholder learnt by a probe): to the writer."""
        if self.writer is not None:
            self.writer.add(item)

    # -- a failure -------------------------------------------------------------------------------

    def failed(self, failure):
        self._answered()
        request = failure.request
        kind = error_kind(failure.value)
        fetch = Fetch(url=request.url, final_url=request.url, error=kind)
        outcome, reason = classify(fetch)
        self.crawler.stats.inc_value(f"monitor/outcome/{outcome}")
        self.crawler.stats.inc_value(f"monitor/error/{kind}")
        self.finished += 1
        yield self._item(request, outcome, reason, fetch)

    def _item(
        self,
        request: Request,
        outcome: Outcome,
        reason: str,
        fetch: Fetch,
        *,
        size: int | None = None,
        ip: str | None = None,
        new_baseline: tuple = (),
        edge: str | None = None,
    ) -> CheckItem:
        meta = request.meta
        return CheckItem(
            report_id=meta["report_id"],
            url=fetch.url or request.url,
            due_at=meta["due_at"],
            checked_at=clock.now_iso(),
            outcome=str(outcome),
            reason=reason,
            http_status=fetch.http_status,
            redirects=fetch.redirects,
            final_url=fetch.final_url or None,
            ip=ip,
            content_type=fetch.content_type,
            size=size,
            elapsed_ms=int((time.monotonic() - meta.get("started", time.monotonic())) * 1000),
            algorithm=fetch.algorithm,
            distance=fetch.distance,
            edge=edge,
            new_baseline=new_baseline if outcome == Outcome.ONLINE else (),
        )


def _slot(url: str, asn: int | None) -> str:
    """slot_for, remembered per (scheme://host:port, ASN): its public-suffix lookup is costly."""
    end = url.find("/", 8)  # the first "/" after "http://h" or "https://"
    return _slot_of(url if end < 0 else url[:end], asn)
