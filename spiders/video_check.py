"""A recheck's video step: is the fetched video the reported one (exact digest, then vPDQ)?

A mixin of spiders.spiders.recheck.RecheckSpider. A response whose bytes are a video container
(hashes.video.looks_like_video, whatever its Content-Type) is judged here:
1. read whole: its exact digest against the baseline's (the recheck's first step, as for any
   body); a prefix has no digest worth comparing;
2. its vPDQ signature (hashes.video, in the hash worker; one frame a second, QUERY_SECONDS_PER_HASH)
   against the baseline's `vpdq` entries (hashes.video_compare), or, without a baseline, the
   first check's signature (BASELINE_SECONDS_PER_HASH: denser) becomes the baseline.
A prefix that holds fewer than MIN_FRAMES sampled frames (or none that decodes yet: an MP4
whose index comes after its media) is read again with a larger budget (`[crawl]
video_prefix_bytes` x4, at least max_download_bytes), once, within the check's deadline;
what still does not decode is `unreachable/video_truncated`, never a removal.

Requests of reports whose baseline is a video ask for the prefix alone (a Range header); every
recheck request carries the prefix budget, so a first check of a 500 MB video served whole is
cut at the prefix too (spiders.video_prefix). Stats: `monitor/video/checks`, `.../bytes` (body
bytes read for video checks), `.../ranged` (206 answers), `.../cut` (bodies cut at the prefix),
`.../more` (second, larger reads), `.../whole` (videos read whole).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scrapy import Request
from scrapy.http import Response

from hashes.video import VideoHashes
from hashes.video_compare import (
    BASELINE_SECONDS_PER_HASH,
    QUERY_SECONDS_PER_HASH,
    compare_video,
    video_baseline,
    vpdq_texts,
)
from hashes.vpdq_match import MatchThresholds, unique_frames
from monitor.core.classify import Fetch
from spiders import deadline
from spiders.hashing import Hasher, HashWorkerFailed, exact_match_async
from spiders.video_prefix import Prefix, prefix_headers, prefix_of, video_meta

MIN_FRAMES = 5  # usable frames a prefix must hold to be judged (else: read more, once)
MORE = 4  # the second read's budget: this many times the first (at least max_download_bytes)


class VideoCheck:
    """`_video(response, fetch, body, baseline)` for a spider with crawler, config, hasher."""

    crawler: Any
    config: Any
    hasher: Hasher

    def video_request(self, baseline: list[tuple[str, str]]) -> dict[str, Any]:
        """Request arguments for a due check: every check may meet a video; a report whose
        baseline is a video asks for its prefix alone."""
        prefix = self.config.crawl.video_prefix_bytes
        known = bool(vpdq_texts(baseline))
        return {
            "headers": prefix_headers(prefix) if known else {},
            "meta": video_meta(prefix, known=known),
        }

    def _thresholds(self) -> MatchThresholds:
        h = self.config.hashes
        return MatchThresholds(
            h.vpdq_distance, h.vpdq_quality, h.vpdq_query_percent, h.vpdq_target_percent
        )

    def _vinc(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"monitor/video/{key}", n)

    async def _video(
        self, response: Response, fetch: Fetch, body: bytes, baseline: list[tuple[str, str]]
    ) -> tuple[Fetch, tuple]:
        """A body whose bytes are a video: (what was seen, the new baseline of a first check)."""
        fetch = replace(fetch, video=True)
        self._vinc("checks")
        prefix = prefix_of(response)
        self._count_read(response, prefix, len(body))
        if not prefix.from_start:  # a 206 for another range than asked: nothing to judge
            return replace(fetch, error="other"), ()
        if not prefix.partial:
            exact = await exact_match_async(body, baseline)
            if exact is not None:
                return replace(
                    fetch,
                    is_image=True,
                    matched=True,
                    distance=exact.distance,
                    algorithm=exact.algorithm,
                ), ()
        seconds = QUERY_SECONDS_PER_HASH if baseline else BASELINE_SECONDS_PER_HASH
        h = await self._signature(body, prefix.partial, seconds)
        if prefix.partial and self._too_little(h):
            more = await self._read_more(response)
            if more is not None:
                body, prefix = more.body, prefix_of(more)
                self._count_read(more, prefix, len(body))
                h = await self._signature(body, prefix.partial, seconds)
        if h is None:
            return replace(fetch, is_image=False, image_error="too_large: hash worker failed"), ()
        if not h.ok or h.signature is None:
            return replace(fetch, is_image=False, image_error=h.error), ()
        sig = h.signature
        fetch = replace(fetch, is_image=True)
        if not baseline:
            return replace(fetch, matched=None), video_baseline(sig, h.sha256)
        cmp = compare_video(baseline, sig, self._thresholds())
        if cmp is None:  # no vPDQ baseline (an image's, or digests only): not this material
            return replace(fetch, matched=False), ()
        if not cmp.matched and prefix.partial and self._usable(h) < MIN_FRAMES:
            # the start of a video (a fade-in, a title card) says too little for a removal
            return replace(fetch, is_image=False, image_error="truncated: too few frames"), ()
        return replace(
            fetch, matched=cmp.matched, distance=cmp.distance, algorithm=cmp.algorithm
        ), ()

    async def _signature(self, body: bytes, partial: bool, seconds: float) -> VideoHashes | None:
        try:
            return await self.hasher.compute_video(body, partial=partial, seconds_per_hash=seconds)
        except HashWorkerFailed:
            self._vinc("error/hash_worker_failed")
            return None

    def _usable(self, h: VideoHashes) -> int:
        """Unique frames of enough quality to be matched (as vPDQ counts them)."""
        sig = h.signature
        return 0 if sig is None else len(unique_frames(sig, self.config.hashes.vpdq_quality))

    def _too_little(self, h: VideoHashes | None) -> bool:
        """A prefix too short to judge: no frame decoded yet, or fewer than MIN_FRAMES usable."""
        if h is None:
            return False
        if not h.ok or h.signature is None:
            return h.error_kind == "truncated"
        return self._usable(h) < MIN_FRAMES

    def _count_read(self, response: Response, prefix: Prefix, size: int) -> None:
        self._vinc("bytes", size)
        if response.status == 206:
            self._vinc("ranged")
        elif "download_stopped" in (response.flags or ()):
            self._vinc("cut")
        if not prefix.partial:
            self._vinc("whole")

    async def _read_more(self, response: Response) -> Response | None:
        """The same URL again with a larger prefix budget, within the check's deadline."""
        request = response.request
        assert request is not None
        crawl = self.config.crawl
        budget = max(crawl.video_prefix_bytes * MORE, crawl.max_download_bytes)
        self._vinc("more")
        try:
            return await self.crawler.engine.download_async(
                Request(
                    response.url,
                    dont_filter=True,
                    headers=prefix_headers(budget),
                    meta={
                        **video_meta(budget, known=True),
                        "download_slot": request.meta.get("download_slot"),
                        deadline.AT: request.meta.get(deadline.AT),
                    },
                )
            )
        except Exception:  # noqa: BLE001 - the first read stands (judged as far as it went)
            self._vinc("error/more")
            return None
