"""A watch page's images: fetched concurrently, hashed in memory, within the page's deadline.

The watch spider's image step (a mixin of spiders.spiders.watch.WatchSpider). A page's images
are fetched from its callback through `engine.download_async` (downloader middlewares only: the
network guard, timeouts, redirects, retries), at most CONCURRENT_REQUESTS image bodies held at
once, each hashed whatever its Content-Type and dropped as soon as it is hashed.

A page scan has one overall deadline, as a recheck has (spiders.deadline, the setting
NTD_CHECK_DEADLINE): the clock starts when the page request is first sent, and every image
request of the page carries it, so a slow-drip image is cut at the deadline and one not yet
sent by then fails at once. The page waits for its images no longer than that: what arrived
in time is seen (one SeenImages batch), what did not is counted (`monitor/watch/images/late`,
and the page under `monitor/watch/deadline/page_cut`), and the page closes on the gate. A
hostile gallery of slow images so holds its slot for one deadline, not for images x retries x
download timeout. The images of a page cut short are tried again at the source's next scan.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from scrapy import Request

from hashes.compute import MediaHashes
from spiders import deadline
from spiders.base import slot_for
from spiders.hashing import Hasher, HashWorkerFailed
from spiders.items import SeenImage
from spiders.observe import error_kind, looks_image
from spiders.pipelines.reuploads import seen_image


class PageImages:
    """`_images(links, page_url, at)` for a spider with crawler, hasher and `_inc(key, n)`."""

    crawler: Any
    hasher: Hasher
    _room: asyncio.Semaphore | None
    _inc: Callable[..., None]

    async def _images(self, links: list[str], page_url: str, at: float) -> tuple[SeenImage, ...]:
        """Fetch and hash a page's images concurrently until the page's deadline `at` (a
        time.monotonic() value); the ones seen in time, in page order."""
        if not links:
            return ()
        counts: Counter[str] = Counter({"images/queued": len(links)})
        tasks = [asyncio.ensure_future(self._image(link, page_url, at, counts)) for link in links]
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, at - time.monotonic()))
        # (the pending ones end by themselves: past the deadline nothing more is sent, what
        # is in flight has its download_timeout cut at the deadline, and nothing is hashed)
        results = [task.result() for task in tasks if task in done]
        late = len(pending) + sum(1 for r in results if r is _LATE)
        if late:
            counts["images/late"] += late
            counts["deadline/page_cut"] += 1
        self._count(counts)
        return tuple(r for r in results if r is not None and r is not _LATE)

    async def _image(self, link: str, page_url: str, at: float, counts: Counter[str]) -> Any:
        """One image: its SeenImage, None (failed, not 200, not an image) or _LATE."""
        if self._room is None:
            self._room = asyncio.Semaphore(self.crawler.settings.getint("CONCURRENT_REQUESTS"))
        async with self._room:  # bounds the image bodies held at once
            if time.monotonic() >= at:
                return _LATE
            request = Request(
                link,
                dont_filter=True,
                meta={"kind": "image", "download_slot": slot_for(link, None), deadline.AT: at},
            )
            try:
                response = await self.crawler.engine.download_async(request)
            except Exception as exc:  # noqa: BLE001 - an image that fails is counted, not fatal
                kind = error_kind(exc)
                if kind == "timeout" and time.monotonic() >= at - _CUT_SLACK_S:
                    return _LATE  # cut by the page's deadline: late, not an error
                counts[f"error/image/{kind}"] += 1
                counts["errors"] += 1
                return None
            counts[f"images/status/{response.status}"] += 1
            if response.status != 200 and not looks_image(response.body):
                return None  # image bytes under any status are hashed: a 404 hides nothing
            if time.monotonic() >= at:
                return _LATE
            url, ip = response.url, ip_of(response)
            try:
                h = await self.hasher.compute(response.body)
            except HashWorkerFailed:  # the worker died twice on these bytes
                counts["error/image/hash_worker_failed"] += 1
                counts["errors"] += 1
                return None
            finally:
                del response
        return seen_image(url, page_url, ip, h) if self._is_image(h, counts) else None

    @staticmethod
    def _is_image(h: MediaHashes, counts: Counter[str]) -> bool:
        """Whether the bytes were an image (then it is seen: digests always, perceptual
        hashes when usable for matching), counted either way."""
        if not h.ok:
            counts["images/not_image"] += 1
            return False
        if not h.usable:
            counts["images/not_usable"] += 1
        counts["images/hashed"] += 1
        return True

    def _count(self, counts: Counter[str]) -> None:
        for key, value in counts.items():
            self._inc(key, value)


_LATE: Any = object()  # an image not seen before its page's deadline
_CUT_SLACK_S = 0.05  # a timeout this close to the deadline is the deadline's cut


def ip_of(response: Any) -> str | None:
    return str(response.ip_address) if response.ip_address else None
