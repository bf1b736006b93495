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
hashed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from scrapy import Request
from scrapy.http import Response

from hashes.compute import MediaHashes
from hashes.match import Comparison
from monitor.core.classify import Fetch
from spiders import deadline
from spiders.base import slot_for
from spiders.hashing import Hasher, HashWorkerFailed, baseline_of, exact_match_async
from spiders.items import SeenImage
from spiders.observe import image_links, looks_image
from spiders.pipelines.reuploads import seen_image

PAGE_IMAGES_AT_ONCE = 4  # images of one reported page fetched at once


class PageCheck:
    """`_page(response, fetch, baseline)` for a spider with crawler, hasher, check_seconds,
    `_compare(baseline, hashes)` and `_matched(fetch, comparison)`."""

    crawler: Any
    hasher: Hasher
    check_seconds: float
    _compare: Callable[[Any, MediaHashes], Comparison | None]
    _matched: Callable[[Fetch, Comparison], Fetch]

    async def _page(
        self, response: Response, fetch: Fetch, baseline: list[tuple[str, str]]
    ) -> tuple[Fetch, tuple, list[SeenImage]]:
        """A reported HTML page: hash every image it shows (bounded; PAGE_IMAGES_AT_ONCE
        fetched at a time), each also a SeenImage, until the check's deadline. A page whose
        images did not all arrive in time and showed no match is `timeout`, not removed."""
        at = time.monotonic() + deadline.time_left(response.meta, self.check_seconds)
        room = asyncio.Semaphore(PAGE_IMAGES_AT_ONCE)
        tasks = [
            asyncio.ensure_future(self._page_image(link, at, room, baseline))
            for link in image_links(response)
        ]
        done, pending = (
            await asyncio.wait(tasks, timeout=max(0.0, at - time.monotonic()))
            if tasks
            else (set(), set())
        )
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
        fetch = replace(fetch, gallery=True)
        if best is not None and best.matched:
            return self._matched(replace(fetch, is_image=True), best), (), seen
        if pending:  # the deadline passed before the page's images were all seen
            self.crawler.stats.inc_value("monitor/deadline/page_cut")
            if not collected:
                return replace(fetch, error="timeout"), (), seen
        if not baseline:
            if collected:
                return (
                    replace(fetch, is_image=True, matched=None),
                    tuple(dict.fromkeys(collected)),
                    seen,
                )
            return replace(fetch, is_image=False, image_error="html page without images"), (), seen
        if best is None:
            return replace(fetch, is_image=False, matched=False), (), seen
        return self._matched(replace(fetch, is_image=True), best), (), seen

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
