"""One fetched video against a report's baseline: is it the reported video (vPDQ), and what a
first check keeps as the baseline of a video.

A baseline is the report's list of (algorithm, hash[, quality]); its `vpdq` entries are
signature texts (hashes.video_text). The fetched video is the query, each `vpdq` entry a target
(hashes.vpdq_match.match with the configured thresholds); the best entry decides. A
Comparison's `distance` for vPDQ is 100 minus the percentage of the fetched video's unique
frames found in the reference (0: every frame found), rounded up, so that `distance <=
100 - query_percent threshold` reads as the match.

Prefixes: a check may read only the first bytes of a video (an HTTP range), and a baseline may
itself come from a prefix. Frames of the fetched video later than the reference's last frame
(plus one sampling step) are left out of the comparison: they were never seen at report time,
so they say nothing either way (without this, a longer prefix of the very same file would look
like another video). A fetched video none of whose frames lies within the reference's span is
not compared (None), nor is a reference with no frame of enough quality.

Sampling: the first check hashes BASELINE_SECONDS_PER_HASH (denser than the reference's one a
second) so that a re-served re-encode, sampled at other moments, finds each of its frames near
one of the baseline's (hashes.vpdq_match module docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from hashes.match import Comparison
from hashes.video_model import FrameHash, VideoSignature
from hashes.video_text import VideoHashTextError, parse, to_text
from hashes.vpdq_match import MatchThresholds, match, unique_frames

__all__ = [
    "BASELINE_SECONDS_PER_HASH",
    "QUERY_SECONDS_PER_HASH",
    "VPDQ",
    "compare_video",
    "video_baseline",
    "vpdq_texts",
]

VPDQ = "vpdq"
BASELINE_SECONDS_PER_HASH = 0.25  # a first check's signature (what later checks are matched to)
QUERY_SECONDS_PER_HASH = 1.0  # a recheck's or a watch scan's (the reference's default)
DEFAULT = MatchThresholds()


def vpdq_texts(baseline: Sequence[Sequence[object]]) -> list[str]:
    """The vPDQ signature texts of a baseline's entries."""
    return [
        str(entry[1])
        for entry in baseline
        if len(entry) >= 2 and str(entry[0]).strip().lower() == VPDQ
    ]


@lru_cache(maxsize=512)
def _frames(text: str) -> tuple[FrameHash, ...] | None:
    """A stored signature's frames (parsed once per text); None when it does not parse."""
    try:
        return parse(text)
    except VideoHashTextError:
        return None


def _within(
    query: Sequence[FrameHash], target: Sequence[FrameHash], step: float
) -> list[FrameHash]:
    end = max(f.timestamp for f in target) + step
    return [f for f in query if f.timestamp <= end + 1e-6]


def compare_video(
    baseline: Sequence[Sequence[object]],
    video: VideoSignature,
    thresholds: MatchThresholds = DEFAULT,
) -> Comparison | None:
    """The best vPDQ comparison of `video` with the baseline's `vpdq` entries; None when the
    baseline has none that parses, or no frame of `video` lies within any entry's span."""
    best: tuple[float, bool] | None = None
    step = max(video.seconds_per_hash, BASELINE_SECONDS_PER_HASH)
    for text in vpdq_texts(baseline):
        target = _frames(text)
        if not target or not unique_frames(target, thresholds.quality):
            continue  # a reference with no frame of enough quality cannot be matched to
        query = _within(video.frames, target, step)
        if not query:
            continue
        found = match(query, target, thresholds)
        score = (found.query_percent, found.is_match)
        if best is None or (score[1], score[0]) > (best[1], best[0]):
            best = score
    if best is None:
        return None
    percent, matched = best
    return Comparison(VPDQ, int(math.ceil(100.0 - percent - 1e-9)), matched)


def video_baseline(video: VideoSignature, sha256: str | None) -> tuple[tuple[str, str, None], ...]:
    """What a first check keeps of a video: its vPDQ signature, and the digest of the file
    when the whole file was read (a prefix's digest names nothing a hoster could find)."""
    out: list[tuple[str, str, None]] = []
    if video.frames:
        out.append((VPDQ, to_text(video), None))
    if sha256 and not video.truncated:
        out.append(("sha256", sha256, None))
    return tuple(out)
