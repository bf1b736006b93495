"""A watch page's videos: read as prefixes, hashed (vPDQ) in memory, within the page's deadline.

The watch spider's video step (a mixin of spiders.spiders.watch.WatchSpider), beside its image
step (spiders.watch_images). The videos a page embeds or links (spiders.observe.video_links, at
most VIDEOS_PER_PAGE) are fetched concurrently with the page's one deadline, each asking for its
first `[crawl] video_prefix_bytes` (a Range; a server that ignores it is cut there:
spiders.video_prefix), hashed one frame a second (QUERY_SECONDS_PER_HASH) in the hash worker,
and dropped. Only the frame hashes leave, as one SeenVideos item per page; digests only for a
video read whole. Whatever its status: video bytes under a 404 are hashed like an image's.
Counted under `monitor/watch/videos/...`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from scrapy import Request

from hashes.video import VideoHashes, looks_like_video
from hashes.video_compare import QUERY_SECONDS_PER_HASH
from monitor.core import clock
from spiders import deadline
from spiders.base import slot_for
from spiders.hashing import Hasher, HashWorkerFailed
from spiders.items import SeenVideo
from spiders.observe import error_kind
from spiders.video_prefix import prefix_headers, prefix_of, video_meta

VIDEOS_PER_PAGE = 10


def seen_video(
    url: str, page_url: str, ip: str | None, h: VideoHashes, *, report_id: int | None = None
) -> SeenVideo:
    """The SeenVideo of a video hashed in memory (frame hashes; digests when read whole)."""
    sig = h.signature
    assert sig is not None
    whole = not sig.truncated
    return SeenVideo(
        url=url,
        page_url=page_url,
        ip=ip,
        seen_at=clock.now_iso(),
        frames=tuple(
            (f.frame, f.quality, f.pdq, f.timestamp, f.inner_pdq, f.inner_quality)
            for f in sig.frames
        ),
        truncated=sig.truncated,
        sha256=h.sha256 if whole else None,
        md5=h.md5 if whole else None,
        sha1=h.sha1 if whole else None,
        report_id=report_id,
    )


class PageVideos:
    """`_videos(links, page_url, at)` for a spider with crawler, config, hasher, `_inc`."""

    crawler: Any
    config: Any
    hasher: Hasher
    _room: asyncio.Semaphore | None
    _inc: Callable[..., None]

    async def _videos(self, links: list[str], page_url: str, at: float) -> tuple[SeenVideo, ...]:
        """Fetch and hash a page's videos concurrently until the page's deadline `at`."""
        if not links:
            return ()
        counts: Counter[str] = Counter({"videos/queued": len(links)})
        tasks = [asyncio.ensure_future(self._video(link, page_url, at, counts)) for link in links]
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, at - time.monotonic()))
        if pending:
            counts["videos/late"] += len(pending)
        for key, value in counts.items():
            self._inc(key, value)
        return tuple(r for t in tasks if t in done and (r := t.result()) is not None)

    async def _video(
        self, link: str, page_url: str, at: float, counts: Counter[str]
    ) -> SeenVideo | None:
        if self._room is None:
            self._room = asyncio.Semaphore(self.crawler.settings.getint("CONCURRENT_REQUESTS"))
        async with self._room:
            got = await fetch_video(self, link, at, counts, QUERY_SECONDS_PER_HASH)
        if got is None:
            return None
        url, ip, h = got
        return seen_video(url, page_url, ip, h)


async def fetch_video(
    spider: Any, link: str, at: float, counts: Counter[str], seconds_per_hash: float
) -> tuple[str, str | None, VideoHashes] | None:
    """One linked video read as a prefix (a Range; cut at the prefix when ignored) before the
    deadline `at` and hashed: (final URL, server IP, its VideoHashes), or None (failed, late,
    no video, not decodable: counted under videos/... and error/video/...). Any status: video
    bytes under a 404 are hashed like an image's."""
    if time.monotonic() >= at:
        return None
    prefix = spider.config.crawl.video_prefix_bytes
    request = Request(
        link,
        dont_filter=True,
        headers=prefix_headers(prefix),
        meta={
            "kind": "video",
            "download_slot": slot_for(link, None),
            deadline.AT: at,
            **video_meta(prefix, known=True),
        },
    )
    try:
        response = await spider.crawler.engine.download_async(request)
    except Exception as exc:  # noqa: BLE001 - a video that fails is counted, not fatal
        counts[f"error/video/{error_kind(exc)}"] += 1
        counts["errors"] += 1
        return None
    counts[f"videos/status/{response.status}"] += 1
    part = prefix_of(response)
    if not part.from_start or not looks_like_video(response.body):
        counts["videos/not_video"] += 1
        return None
    counts["videos/bytes"] += len(response.body)
    url, ip = response.url, (str(response.ip_address) if response.ip_address else None)
    try:
        h = await spider.hasher.compute_video(
            response.body, partial=part.partial, seconds_per_hash=seconds_per_hash
        )
    except HashWorkerFailed:
        counts["error/video/hash_worker_failed"] += 1
        counts["errors"] += 1
        return None
    finally:
        del response
    if not h.ok or h.signature is None:
        counts[f"videos/error/{h.error_kind}"] += 1
        return None
    counts["videos/hashed"] += 1
    return url, ip, h
