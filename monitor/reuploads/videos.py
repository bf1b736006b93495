"""Video re-upload search: seen videos' frame hashes against every report's and hash list's vPDQ.

`load_videos(db, config)` builds one hashes.vpdq_match.VideoIndex per crawl from the store: every
report baseline's `vpdq` entry (report_hashes) as ref ("report", id) in list "reports", every
hash list's `vpdq` entry as ("known", id) under its list's name. The index holds the frame
hashes of all of them (one HammingIndex) and answers a seen video with each indexed video's
vPDQ percentages; a video whose percentages pass the `[hashes]` vpdq thresholds is a match, as
`hashes.match.Match` records (algorithm "vpdq", distance = 100 - the percentage of the seen
video's unique frames found; strength "strong"), so that the image path's rules decide what it
is a re-upload of (monitor.reuploads.index.ReuploadIndex.targets: its own reported URL is a
recheck, never a re-upload). A seen video that matches an allowlisted list's entry (known
benign) is no re-upload of anything.

Built in the crawl process on the first seen video (a video index is small beside the image
index: a few hundred frame hashes per reported video). Stored rows that do not parse are left
out (counted in `skipped`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from hashes.match import Match
from hashes.video_model import FrameHash
from hashes.video_text import VideoHashTextError, parse
from hashes.vpdq_match import MatchThresholds, VideoIndex
from monitor.core.config import Config
from monitor.reuploads.index import REPORTS

VPDQ = "vpdq"


def thresholds(config: Config) -> MatchThresholds:
    h = config.hashes
    return MatchThresholds(
        h.vpdq_distance, h.vpdq_quality, h.vpdq_query_percent, h.vpdq_target_percent
    )


def frames_of(seen: Any) -> tuple[FrameHash, ...]:
    """A SeenVideo's frames (spiders.items.FrameRow tuples, or lists after JSON) as FrameHash."""
    return tuple(
        FrameHash(str(pdq), int(quality), int(frame), float(stamp), inner, int(inner_q or 0))
        for frame, quality, pdq, stamp, inner, inner_q in seen.frames
    )


@dataclass
class VideoTargets:
    """The video index of one crawl and what each indexed video is."""

    index: VideoIndex
    lists: dict[Any, tuple[str, str | None, bool]] = field(default_factory=dict)
    skipped: int = 0  # stored signatures that did not parse

    def matches(self, frames: Sequence[FrameHash]) -> list[Match]:
        """The matches of one seen video, best first; none when it matches an allowlist."""
        out: list[Match] = []
        for c in self.index.search(frames):
            if not c.is_match:
                break  # (matches come first)
            name, label, allowlist = self.lists[c.video_id]
            if allowlist:
                return []
            distance = int(math.ceil(100.0 - c.query_percent - 1e-9))
            out.append(Match(c.video_id, VPDQ, distance, name, label, "strong"))
        return out


def load_videos(db: Database, config: Config) -> VideoTargets:
    """Every `vpdq` signature in the store, indexed."""
    targets = VideoTargets(VideoIndex(thresholds(config)))
    rows: list[tuple[Any, str, tuple[str, str | None, bool]]] = [
        (("report", rid), text, (REPORTS, None, False))
        for rid, text in db.execute(
            "SELECT report_id, hash FROM report_hashes WHERE algorithm = ?", [VPDQ]
        )
    ]
    rows += [
        (("known", kid), text, (name, label, bool(allow)))
        for kid, text, label, name, allow in db.execute(
            "SELECT k.id, k.hash, k.label, l.name, l.allowlist FROM known_hashes k "
            "JOIN hash_lists l ON l.id = k.list_id WHERE k.algorithm = ?",
            [VPDQ],
        )
    ]
    videos = []
    for ref, text, about in rows:
        try:
            frames = parse(text)
        except VideoHashTextError:
            targets.skipped += 1
            continue
        targets.lists[ref] = about
        videos.append((ref, frames))
    targets.index.add_many(videos)
    return targets


def alert_hashes(seen: Any) -> dict[str, str]:
    """The digests a hoster can find the file by: only for a video read whole."""
    return {
        name: value
        for name in ("sha256", "md5", "sha1")
        if isinstance(value := getattr(seen, name, None), str) and value
    }
