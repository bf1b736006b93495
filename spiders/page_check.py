"""A reported HTML page: its images fetched concurrently and hashed within the check's deadline.

The recheck spider's page step (a mixin of spiders.spiders.recheck.RecheckSpider). At most
`PAGE_IMAGES_AT_ONCE` images of one page are fetched at a time, through the downloader
middlewares only (engine.download_async), each carrying the check's deadline
(spiders.deadline), and the page waits for them no longer than that deadline. Each image gets
the exact-digest test first (whatever its headers) and is hashed; it is also a SeenImage for
re-upload matching. An image answered with another status (a hostile 404 serving the
material) counts only when it matches the baseline (monitor.core.classify rule 0). The best
comparison with the baseline decides; a page whose images were not all seen in time and that
showed no match is classified `timeout` (unreachable), never removed. Bodies are dropped once
hashed. The page's videos (spiders.observe.video_links, at most PAGE_VIDEOS) are read as prefixes
and hashed beside its images (spiders.watch_videos.fetch_video): a reported video page is judged
by its video (vPDQ, or its digest when read whole), and gives it as its first baseline.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from scrapy import Request
from scrapy.http import Response

from hashes.compute import MediaHashes
from hashes.match import Comparison
from hashes.video import VideoHashes
from hashes.video_compare import (
    BASELINE_SECONDS_PER_HASH,
    QUERY_SECONDS_PER_HASH,
    compare_video,
    video_baseline,
)
from monitor.core.classify import Fetch
from spiders import deadline
from spiders.base import slot_for
from spiders.hashing import Hasher, HashWorkerFailed, baseline_of, exact_match_async
from spiders.items import SeenImage, SeenVideo
from spiders.observe import image_links, looks_image, video_links
from spiders.pipelines.reuploads import seen_image
from spiders.watch_videos import fetch_video, seen_video

PAGE_IMAGES_AT_ONCE = 4  # images (and videos) of one reported page fetched at once
PAGE_VIDEOS = 4  # videos of one reported page looked at (video and source elements first)


def _digest_match(baseline: Any, h: VideoHashes) -> Comparison | None:
    """A page's video read whole whose sha256 is the baseline's."""
    if h.signature is None or h.signature.truncated:
        return None
    wanted = {str(v).lower() for a, v, *_ in baseline if str(a).lower() == "sha256"}
    return Comparison("sha256", 0, True) if h.sha256 in wanted else None


class PageCheck:
    """`_page(response, fetch, baseline)` for a spider with crawler, hasher, check_seconds,
    `_compare(baseline, hashes)` and `_matched(fetch, comparison)`."""

    crawler: Any
    hasher: Hasher
    check_seconds: float
    _compare: Callable[[Any, MediaHashes], Comparison | None]
    _matched: Callable[[Fetch, Comparison], Fetch]
    _thresholds: Callable[[], Any]

    async def _page(
        self, response: Response, fetch: Fetch, baseline: list[tuple[str, str]]
    ) -> tuple[Fetch, tuple, list[SeenImage], list[SeenVideo]]:
        """A reported HTML page: hash every image it shows (bounded; PAGE_IMAGES_AT_ONCE
        fetched at a time), each also a SeenImage, until the check's deadline. A page whose
        images did not all arrive in time and showed no match is `timeout`, not removed."""
        at = time.monotonic() + deadline.time_left(response.meta, self.check_seconds)
        room = asyncio.Semaphore(PAGE_IMAGES_AT_ONCE)
        tasks = [
            asyncio.ensure_future(self._page_image(link, at, room, baseline))
            for link in image_links(response)
        ]
        counts: Counter[str] = Counter()
        vtasks = [
            asyncio.ensure_future(self._page_video(link, at, room, bool(baseline), counts))
            for link in video_links(response, limit=PAGE_VIDEOS)
        ]
        done, pending = (
            await asyncio.wait([*tasks, *vtasks], timeout=max(0.0, at - time.monotonic()))
            if tasks or vtasks
            else (set(), set())
        )
        for key, value in counts.items():
            self.crawler.stats.inc_value(f"monitor/video/page/{key}", value)
        # (the pending ones end by themselves: their download_timeout ends at the deadline)
        best = None
        collected: list[tuple[str, str, int | None]] = []
        seen: list[SeenImage] = []
        for task in tasks:
            result = task.result() if task in done else None
            if result is None:
                continue
            url, ip, exact, h = result
            if h is not None and h.ok:
                seen.append(
                    seen_image(url, response.url, ip, h, report_id=response.meta["report_id"])
                )
            cmp = exact
            if cmp is None and h is not None and h.usable:
                if not baseline:
                    collected.extend(baseline_of(h))
                    continue
                cmp = self._compare(baseline, h)
            if cmp and (
                best is None or (cmp.matched, -cmp.distance) > (best.matched, -best.distance)
            ):
                best = cmp
        videos: list[SeenVideo] = []
        for vtask in vtasks:
            got = vtask.result() if vtask in done else None
            if got is None:
                continue
            video_url, video_ip, vh = got
            assert vh.signature is not None
            videos.append(
                seen_video(
                    video_url, response.url, video_ip, vh, report_id=response.meta["report_id"]
                )
            )
            if not baseline:
                collected.extend(video_baseline(vh.signature, vh.sha256))
                continue
            cmp = _digest_match(baseline, vh) or compare_video(
                baseline, vh.signature, self._thresholds()
            )
            if cmp and (
                best is None or (cmp.matched, -cmp.distance) > (best.matched, -best.distance)
            ):
                best = cmp
        fetch = replace(fetch, gallery=True)
        if best is not None and best.matched:
            return self._matched(replace(fetch, is_image=True), best), (), seen, videos
        if pending:  # the deadline passed before the page's images were all seen
            self.crawler.stats.inc_value("monitor/deadline/page_cut")
            if not collected:
                return replace(fetch, error="timeout"), (), seen, videos
        if not baseline:
            if collected:
                return (
                    replace(fetch, is_image=True, matched=None),
                    tuple(dict.fromkeys(collected)),
                    seen,
                    videos,
                )
            failed = "html page without images"
            return replace(fetch, is_image=False, image_error=failed), (), seen, videos
        if best is None:
            return replace(fetch, is_image=False, matched=False), (), seen, videos
        return self._matched(replace(fetch, is_image=True), best), (), seen, videos

    async def _page_video(
        self, link: str, at: float, room: asyncio.Semaphore, dense: bool, counts: Counter[str]
    ) -> tuple[str, str | None, VideoHashes] | None:
        """One video of a reported page, read as a prefix and hashed before the deadline `at`
        (densely when it may become the baseline)."""
        seconds = QUERY_SECONDS_PER_HASH if dense else BASELINE_SECONDS_PER_HASH
        async with room:
            return await fetch_video(self, link, at, counts, seconds)

    async def _page_image(
        self, link: str, at: float, room: asyncio.Semaphore, baseline
    ) -> tuple[str, str | None, Comparison | None, MediaHashes | None] | None:
        """One image of a reported page, fetched and hashed before the check's deadline `at`
        (None: unreachable, too late, or not 200 and not the material; an image that fails is
        not the page)."""
        async with room:
            if time.monotonic() >= at:
                return None
            try:
                image = await self.crawler.engine.download_async(
                    Request(
                        link,
                        dont_filter=True,
                        meta={"download_slot": slot_for(link, None), deadline.AT: at},
                    )
                )
            except Exception:  # noqa: BLE001 - an unreachable image on a page is not the page
                return None
            if time.monotonic() >= at:
                return None
            ip = str(image.ip_address) if image.ip_address else None
            try:
                if image.status != 200:
                    return await self._served_image(image, ip, baseline)
                return (
                    image.url,
                    ip,
                    await exact_match_async(image.body, baseline),
                    await self.hasher.compute(image.body),
                )
            except HashWorkerFailed:
                return None

    async def _served_image(
        self, image: Response, ip: str | None, baseline
    ) -> tuple[str, str | None, Comparison, None] | None:
        """An image of the page answered with another status than 200 (a hostile 404 for
        the material): it counts only when it matches the baseline (exact digest, or its
        perceptual hashes when its bytes are an image); it is never a SeenImage nor a
        baseline. Anything else is not the page's (None), as before."""
        if not baseline:
            return None
        exact = await exact_match_async(image.body, baseline)
        if exact is not None:
            return image.url, ip, exact, None
        if not looks_image(image.body):
            return None
        h = await self.hasher.compute(image.body)
        cmp = self._compare(baseline, h) if h.usable else None
        return (image.url, ip, cmp, None) if cmp is not None and cmp.matched else None
