"""Item pipeline: every SeenImage (from watch scans and from rechecks of reported pages) is
matched against report baselines and hash lists; confirmed re-uploads go to the alert outbox.
Spiders send a page's images as one SeenImages item: one batched index search per page.

The work is `monitor.reuploads.record.Recorder` (index built once per crawl on the first image, IP
->
ASN/hoster cached per crawl). `seen_image()` is how a spider makes a SeenImage from hashes: the
bytes never reach an item, and perceptual hashes (pHash, dHash, PDQ) are only carried when the
image was usable for one-to-many matching (large enough, PDQ quality >= 50).
"""

from __future__ import annotations

from typing import Any

from hashes.compute import MediaHashes
from monitor import store
from monitor.core import clock
from monitor.reuploads.match_worker import MatchWorker
from monitor.reuploads.record import Observed, Recorder
from spiders.items import SeenImage, SeenImages, SeenVideos


def seen_image(
    url: str, page_url: str, ip: str | None, h: MediaHashes, *, report_id: int | None = None
) -> SeenImage:
    """The SeenImage of an image hashed in memory (hashes only); `report_id` when a recheck
    of that report fetched the page."""
    usable = h.ok and h.usable
    return SeenImage(
        url=url,
        page_url=page_url,
        ip=ip,
        seen_at=clock.now_iso(),
        phash=h.phash if usable else None,
        pdq=h.pdq if usable else None,
        pdq_quality=h.pdq_quality if usable else None,
        sha256=h.sha256,
        md5=h.md5,
        sha1=h.sha1,
        phash_mirror=h.phash_mirror if usable else None,
        pdq_dihedral=h.pdq_dihedral if usable else (),
        dhash=h.dhash if usable else None,
        report_id=report_id,
    )


class ReuploadPipeline:
    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self.recorder: Recorder | None = None
        self.worker: MatchWorker | None = None
        crawler._ntd_reuploads = self

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        worker = None
        if spider.config.crawl.match_process:
            worker = MatchWorker(store.db_path(spider.db_path), spider.config)
            if getattr(spider, "warm_index", False):
                worker.start_soon()  # the index builds while the first pages load
        self.worker = worker
        self.recorder = Recorder(store.connect(spider.db_path), spider.config, worker=worker)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, SeenVideos):
            return await self._videos(item)
        if isinstance(item, SeenImage):
            images = [item]
        elif isinstance(item, SeenImages):
            images = list(item.images)
        else:
            return item
        if self.recorder is None or not images:
            return item
        stats = self.crawler.stats
        stats.inc_value("monitor/reuploads/images", len(images))
        try:
            self._count(await self.recorder.observe_many(images))
        except Exception:  # noqa: BLE001 - one bad record must not stop the crawl
            for image in images:  # nor lose the rest of its batch: one at a time
                try:  # (recording is idempotent: a re-upload written twice is seen again)
                    self._count(await self.recorder.observe(image))
                except Exception as exc:  # noqa: BLE001
                    stats.inc_value(f"monitor/reuploads/error/{type(exc).__name__}")
        return item

    async def _videos(self, item: SeenVideos) -> SeenVideos:
        """A page's seen videos: matched one at a time if the batch fails (one bad record alone)."""
        if self.recorder is None or not item.videos:
            return item
        stats = self.crawler.stats
        stats.inc_value("monitor/reuploads/videos", len(item.videos))
        try:
            self._count(await self.recorder.observe_videos(list(item.videos)))
        except Exception:  # noqa: BLE001 - one bad record must not stop the crawl
            for video in item.videos:
                try:
                    self._count(await self.recorder.observe_videos([video]))
                except Exception as exc:  # noqa: BLE001
                    stats.inc_value(f"monitor/reuploads/error/{type(exc).__name__}")
        return item

    def _count(self, seen: Observed) -> None:
        for key in ("found", "recorded", "seen_again", "alerts", "skipped"):
            value = getattr(seen, key)
            if value:
                self.crawler.stats.inc_value(f"monitor/reuploads/{key}", value)

    def close_spider(self) -> None:
        if self.recorder is not None:
            stats = self.crawler.stats
            entries = self.recorder.entries
            if entries is not None:
                stats.set_value("monitor/reuploads/index_entries", entries)
            worker = self.worker
            if self.recorder.worker_failed:
                stats.set_value(
                    "monitor/reuploads/match_process_failed", self.recorder.worker_failed
                )
            if worker is not None:
                worker.close()
                if worker.images:  # where the match process's time went (bench_watch reads it)
                    stats.set_value(
                        "monitor/reuploads/match_cpu_ms", round(worker.match_seconds * 1e3, 1)
                    )
                stats.set_value(
                    "monitor/reuploads/index_build_ms", round(worker.index_seconds * 1e3, 1)
                )
                if worker.cpu_closed:  # all of it: index build, matching, pipes, pickling
                    stats.set_value(
                        "monitor/reuploads/match_process_cpu_ms", round(worker.cpu_closed * 1e3, 1)
                    )
            self.recorder.db.conn.close()
            self.recorder = None
