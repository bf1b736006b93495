"""Re-upload search: match hashes of seen images against every report baseline and hash list,
and record what is found through the alert outbox.

What is matched against, and what a match is a re-upload of, is monitor.reuploads.index
(`load_index`, `ReuploadIndex.targets`); matching runs in a match process
(monitor.reuploads.match_worker) when the Recorder is given one, else in this process.

dHash: carried on a SeenImage like pHash (usable images only) and handed to the Matcher, which
treats a dHash hit as pHash: a candidate unless the entry's PDQ agrees (hashes.match), so it
never confirms a match on its own. It is also one of the hash values an alert gives a hoster.

`Recorder.observe_many()` is the adapter the pipeline calls per page (a batch of seen images:
one index search), `observe_videos()` for a page's seen videos (monitor.reuploads.videos),
`observe()` for one image: match, attribute the serving IP to ASN and
hoster (cached per IP for the crawl), record through the alert outbox.
Nothing here sees content: only hashes, URLs and addresses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from hashes.compute import MediaHashes
from hashes.video_text import to_text
from monitor.alerts.outbox import record_reupload
from monitor.attribution import asn
from monitor.attribution.cdn_attribute import EdgeAttribution
from monitor.attribution.hosters import Registry
from monitor.core.config import Config
from monitor.core.urls import UrlError
from monitor.reuploads.index import Found, ReuploadIndex, load_index
from monitor.reuploads.match_worker import MatchWorkerFailed
from monitor.reuploads.videos import VideoTargets, frames_of, load_videos
from monitor.reuploads.videos import alert_hashes as video_hashes

__all__ = [
    "Found",
    "Observed",
    "Recorder",
    "ReuploadIndex",
    "alert_hashes",
    "load_index",
    "media_hashes",
    "record",
]
log = logging.getLogger(__name__)


def media_hashes(seen: Any) -> MediaHashes:
    """MediaHashes back from a SeenImage (spiders.items): perceptual hashes are only present
    on a SeenImage when the image was usable for matching (see spiders.pipelines.reuploads)."""
    perceptual = bool(seen.pdq or seen.phash)
    return MediaHashes(
        ok=perceptual,
        error=None,
        format=None,
        width=0,
        height=0,
        phash=seen.phash,
        dhash=getattr(seen, "dhash", None),
        pdq=seen.pdq,
        pdq_quality=seen.pdq_quality,
        sha256=seen.sha256,
        sha1=seen.sha1,
        md5=seen.md5,
        phash_mirror=seen.phash_mirror,
        pdq_dihedral=tuple(seen.pdq_dihedral),
        usable=perceptual,
    )


def alert_hashes(seen: Any) -> dict[str, str]:
    """The hash values a hoster needs to find the file (no content, nothing else)."""
    values = {"sha256": seen.sha256, "md5": seen.md5, "sha1": seen.sha1}
    if seen.pdq:
        values["pdq"] = seen.pdq
    if seen.phash:
        values["phash"] = seen.phash
    if getattr(seen, "dhash", None):
        values["dhash"] = seen.dhash
    return values


def record(db: Database, **kwargs: Any) -> Any:
    """The outbox call (one line to switch): writes the reuploads row, its tracked report and
    the pending alert(s) in one transaction."""

    return record_reupload(db, **kwargs)


@dataclass
class Observed:
    found: int = 0
    recorded: int = 0  # reuploads rows written for the first time
    seen_again: int = 0  # existing rows whose last_seen_at moved
    alerts: int = 0
    skipped: int = 0  # the outbox refused (allowlisted list entry)


class Recorder:
    """Per crawl: the index (built on first use; in `worker`, a monitor.reuploads.match_worker
    MatchWorker, when given), the hoster registry and an IP cache."""

    def __init__(
        self, db: Database, config: Config, *, backend: Any = None, worker: Any = None
    ) -> None:
        self.db = db
        self.config = config
        self.backend = backend
        self.worker = worker
        self.worker_failed: str | None = None  # why matching moved back into this process
        self._index: ReuploadIndex | None = None
        self._registry: Any = None
        self._ips: dict[str, tuple[int | None, int | None]] = {}
        self._videos: VideoTargets | None = None  # the vPDQ index, built on the first video

    @property
    def index(self) -> ReuploadIndex:
        """The index in this process (built on first use)."""
        if self._index is None:
            self._index = load_index(self.db, self.config)
        return self._index

    @property
    def entries(self) -> int | None:
        """Entries in the index, once it is built (here or in the worker)."""
        if self.worker is not None:
            return self.worker.entries
        return self._index.entries if self._index is not None else None

    async def _match(self, hs: list[MediaHashes]) -> tuple[ReuploadIndex, list[list[Any]]]:
        worker = self.worker
        if worker is not None:
            try:
                return await worker.index(), await worker.match_many(hs)
            except MatchWorkerFailed as exc:  # no image lost: match here from now on
                self._worker_gone(worker, exc)
        index = self.index
        assert index.matcher is not None
        return index, index.matcher.match_many(hs)

    async def attribute(self, ip: str | None) -> tuple[int | None, int | None]:
        """(asn, hoster_id) of the IP that served the image, looked up once per crawl."""
        if not ip:
            return (None, None)
        if ip not in self._ips:
            try:
                if self.backend is None:
                    self.backend = asn.backend_for(self.config.asn)
                infos = await asn.lookup([ip], self.db, self.config.asn, backend=self.backend)
            except Exception:  # noqa: BLE001 - attribution failing must not lose the find
                infos = {}
            info = infos.get(ip)
            if self._registry is None:
                self._registry = EdgeAttribution(self.db, Registry.load(self.db))
            # through a CDN edge: "X (origin unknown)", whose alerts go to the CDN (cdn_route)
            hoster = (
                self._registry.decide(ip, info, None).hoster
                if info is not None
                else self._registry.hosters.attribute(ip, None)
            )
            self._ips[ip] = (
                info.asn if info is not None and info.announced else None,
                hoster.id if hoster is not None else None,
            )
        return self._ips[ip]

    async def observe(self, seen: Any) -> Observed:
        """Match one SeenImage and record what it is a re-upload of."""
        return await self.observe_many([seen])

    async def observe_many(self, seen: list[Any]) -> Observed:
        """Match a batch of SeenImages (one index search) and record what each is a re-upload
        of; the counts are summed over the batch."""
        out = Observed()
        if not seen:
            return out
        index, batch = await self._match([media_hashes(s) for s in seen])
        for image, matches in zip(seen, batch, strict=True):
            if matches:
                await self._targets(index, image, matches, out)
        return out

    async def observe_videos(self, seen: list[Any]) -> Observed:
        """Match a batch of SeenVideos against every vPDQ signature in the store
        (monitor.reuploads.videos) and record what each is a re-upload of."""
        out = Observed()
        if not seen:
            return out
        if self._videos is None:
            self._videos = load_videos(self.db, self.config)
        index = await self._rules()
        for video in seen:
            matches = self._videos.matches(frames_of(video))
            if matches:  # digests for the alert; the signature is the tracked copy's baseline
                values = {**video_hashes(video), "vpdq": to_text(frames_of(video))}
                await self._targets(index, video, matches, out, values)
        return out

    async def _targets(
        self,
        index: ReuploadIndex,
        seen: Any,
        matches: list[Any],
        out: Observed,
        values: dict[str, str] | None = None,
    ) -> None:
        """Record what one seen image or video is a re-upload of (ReuploadIndex.targets)."""
        found = index.targets(
            self.db,
            matches,
            url=seen.url,
            page_url=seen.page_url,
            report_id=getattr(seen, "report_id", None),
        )
        if found:
            await self._record(seen, found, out, values)

    async def _rules(self) -> ReuploadIndex:
        """What decides a match's target (ReuploadIndex.targets): the match process's, or, when
        that process is gone, this process's own (as image matching falls back)."""
        worker = self.worker
        if worker is not None:
            try:
                return await worker.index()
            except MatchWorkerFailed as exc:
                self._worker_gone(worker, exc)
        return self.index

    def _worker_gone(self, worker: Any, exc: Exception) -> None:
        """The match process failed: matching goes on in this process from now on."""
        worker.close()
        if self.worker is worker:  # (other pages' batches may fail with it)
            log.warning("re-upload matching continues in the crawl process: %s", exc)
            self.worker, self.worker_failed = None, str(exc)

    async def _record(
        self, seen: Any, found: list[Found], out: Observed, values: dict[str, str] | None = None
    ) -> None:
        asn_, hoster_id = await self.attribute(seen.ip)
        values = alert_hashes(seen) if values is None else values
        for f in found:
            out.found += 1
            try:
                result = record(
                    self.db,
                    url=seen.url,
                    page_url=seen.page_url,
                    of_report_id=f.of_report_id,
                    of_known_hash_id=f.of_known_hash_id,
                    algorithm=f.algorithm,
                    distance=f.distance,
                    ip=seen.ip,
                    asn=asn_,
                    hoster_id=hoster_id,
                    seen_at=seen.seen_at,
                    hashes=values,
                    config=self.config,
                )
            except UrlError:  # a link we refuse to store (credentials, a bad host): this one alone
                out.skipped += 1
                continue
            if getattr(result, "skipped", None):
                out.skipped += 1
            elif getattr(result, "new", False):
                out.recorded += 1
            else:
                out.seen_again += 1
            out.alerts += len(getattr(result, "alert_ids", ()) or ())
