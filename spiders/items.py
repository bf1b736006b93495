"""What the spiders emit: one frozen record per observation. Never content, only about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class CheckItem:
    """One check of one reported URL at one schedule slot."""

    report_id: int
    url: str
    due_at: str  # the schedule slot filled (unique per report)
    checked_at: str
    outcome: str  # monitor.core.classify.Outcome value
    reason: str
    http_status: int | None = None
    redirects: tuple[tuple[str, int], ...] = ()
    final_url: str | None = None
    ip: str | None = None
    content_type: str | None = None
    size: int | None = None
    elapsed_ms: int | None = None
    algorithm: str | None = None
    distance: int | None = None
    edge: str | None = None  # the CDN its response headers name (monitor.attribution.edge)
    # When the report had no baseline: hashes of the first successful fetch (origin first_check).
    new_baseline: tuple[tuple[str, str, int | None], ...] = ()


@dataclass(frozen=True)
class PlaceholderItem:
    """What a host serves for a path that never existed (its "file not found" image)."""

    host: str
    algorithm: str
    hash: str
    http_status: int | None
    learned_at: str


@dataclass(frozen=True)
class SeenImage:
    """An image seen on a fetched page (input to re-upload matching), with its hashes only.

    Perceptual hashes (phash, dhash, pdq) are None when the image was not usable for matching.
    `report_id` names the report whose recheck fetched the page (None from watch scans): its
    own material there is its recheck, never a re-upload (see monitor.reuploads.record)."""

    url: str
    page_url: str
    ip: str | None
    seen_at: str
    phash: str | None
    pdq: str | None
    pdq_quality: int | None
    sha256: str
    md5: str
    sha1: str
    phash_mirror: str | None = None
    pdq_dihedral: tuple[str, ...] = ()
    dhash: str | None = None
    report_id: int | None = None


@dataclass(frozen=True)
class SeenImages:
    """The images of one fetched page, matched against the index as one batch (one item per
    page instead of one per image: matching a batch costs less per image than one at a time)."""

    page_url: str
    images: tuple[SeenImage, ...]


# One sampled frame of a seen video: (frame number, quality, PDQ hex, seconds, PDQ hex of the
# picture inside a uniform border or None, its quality): plain values, so that the record
# travels as JSON (distributed mode) like every other item.
FrameRow = tuple[int, int, str, float, str | None, int]


@dataclass(frozen=True)
class SeenVideo:
    """A video seen on a fetched page (input to re-upload matching): its vPDQ frame hashes.

    Digests are those of the whole file, None when only its first bytes were read (a
    prefix's digest names nothing a hoster could find)."""

    url: str
    page_url: str
    ip: str | None
    seen_at: str
    frames: tuple[FrameRow, ...]
    truncated: bool = False
    sha256: str | None = None
    md5: str | None = None
    sha1: str | None = None
    report_id: int | None = None


@dataclass(frozen=True)
class SeenVideos:
    """The videos of one fetched page, matched as one batch."""

    page_url: str
    videos: tuple[SeenVideo, ...]


class Writer(Protocol):
    """Where a spider's observations go; the runner creates it and passes it to the spider
    (`writer=`). add() takes any item and stores or sends what it keeps of it."""

    def add(self, item: Any) -> None: ...

    def flush(self) -> Any: ...

    def counts(self) -> dict[str, int]: ...

    def close(self) -> None: ...
