"""vPDQ matching: how much of a query video is found in a target video, and back, and an index
of many videos' frame hashes that answers the same for all of them at once.

As Meta's reference defines it (ThreatExchange vpdq README and python-threatexchange's brute
matcher and index): each side's frames below `quality` are left out and repeated hashes are
counted once (the unique frames); a query frame is matched when some target frame is within
`distance` bits (<=), and the other way round; query_percent = matched unique query frames x 100
/ unique query frames, target_percent likewise; a video matches when query_percent >=
`query_percent` and target_percent >= `target_percent`. Defaults are the reference's: 31 bits,
quality 50, 80 % of the query, 0 % of the target (its index's defaults; the README's example
puts the 80 % on the target instead: both are parameters). When either side has no frame left,
both percentages are 0.

Extension: a frame that has a uniform border also carries the hash of the picture inside it
(FrameHash.inner_pdq); a frame is matched when any of its hashes is within `distance` of any
of the other frame's. Without borders this is the reference's rule; `borders=False` (or
signatures made without border hashes) gives it in every case.

Sampling: a re-upload trimmed by a fraction of a second is sampled at other moments than its
original, and frames half a second apart can differ by more than `distance`. Hash the videos
that are searched for (a report's baseline, a hash list's videos) denser than the queries, e.g.
`seconds_per_hash=0.25` against the reference's 1.0: each query frame then has an indexed frame
within 1/8 s. The percentages keep their definition (target_percent falls with the density,
and its default threshold is 0).

`VideoIndex` holds every indexed frame hash in one hashes.index.HammingIndex (256 bits, exact
radius search), a row per hash, with the video and frame it belongs to; `search` runs one batch
radius search for all of a query's hashes and groups the hits by video. It returns, for every
video with any hit, exactly the percentages `match` gives for that pair.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hashes.index import HammingIndex, to_words
from hashes.video_model import FrameHash, VideoSignature

__all__ = [
    "MatchThresholds",
    "VideoCandidate",
    "VideoIndex",
    "VideoMatch",
    "match",
    "unique_frames",
]


@dataclass(frozen=True)
class MatchThresholds:
    """The vPDQ thresholds (future `[hashes]` keys `vpdq_distance`, `vpdq_quality`,
    `vpdq_query_percent`, `vpdq_target_percent`)."""

    distance: int = 31  # bits: frames match within this PDQ distance (<=)
    quality: int = 50  # frames with lower PDQ quality are left out on both sides
    query_percent: float = 80.0  # of the query's unique frames that must be matched ...
    target_percent: float = 0.0  # ... and of the target's


@dataclass(frozen=True)
class VideoMatch:
    query_percent: float
    target_percent: float
    is_match: bool


@dataclass(frozen=True)
class VideoCandidate:
    """A video of a VideoIndex that shares frames with the query."""

    video_id: Hashable
    query_percent: float
    target_percent: float
    is_match: bool


Frames = VideoSignature | Sequence[FrameHash]
_BLOCK = 1 << 18  # hash pairs compared at once by `match`


def _frames(video: Frames) -> Sequence[FrameHash]:
    return video.frames if isinstance(video, VideoSignature) else video


def unique_frames(video: Frames, quality: int, borders: bool = True) -> list[tuple[str, ...]]:
    """The unique frames of a video as vPDQ counts them: frames of at least `quality`, one per
    distinct whole-frame hash (the first kept), each as its hashes: the whole frame's, then,
    with `borders`, the inner picture's. A framed picture is judged by its own quality (a
    border's edges would make any picture look detailed)."""
    seen: set[str] = set()
    out: list[tuple[str, ...]] = []
    for f in _frames(video):
        framed = borders and f.inner_pdq is not None
        if (f.inner_quality if framed else f.quality) < quality or f.pdq in seen:
            continue
        seen.add(f.pdq)
        out.append((f.pdq, f.inner_pdq) if framed else (f.pdq,))  # type: ignore[arg-type]
    return out


def _flat(groups: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """All hashes of `groups` as (N, 4) uint64 words, and the group of each."""
    hexes = [h for g in groups for h in g]
    owner = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    words = to_words(hexes, 256) if hexes else np.empty((0, 4), np.uint64)
    return words, owner


def _verdict(q: float, t: float, th: MatchThresholds) -> bool:
    return q >= th.query_percent and t >= th.target_percent


def match(
    query: Frames,
    target: Frames,
    thresholds: MatchThresholds = MatchThresholds(),
    *,
    borders: bool = True,
) -> VideoMatch:
    """The vPDQ percentages and verdict of `query` against `target` (brute force, vectorised)."""
    qg = unique_frames(query, thresholds.quality, borders)
    tg = unique_frames(target, thresholds.quality, borders)
    if not qg or not tg:
        return VideoMatch(0.0, 0.0, False)
    qw, qo = _flat(qg)
    tw, to = _flat(tg)
    hit = np.zeros((len(qg), len(tg)), bool)
    step = max(1, _BLOCK // len(tw))  # query hashes per block: bounded memory
    for a in range(0, len(qw), step):
        dist = np.bitwise_count(qw[a : a + step, None, :] ^ tw[None, :, :]).sum(axis=2)
        qi, ti = np.nonzero(dist <= thresholds.distance)
        hit[qo[qi + a], to[ti]] = True
    q = float(hit.any(axis=1).sum() * 100.0 / len(qg))
    t = float(hit.any(axis=0).sum() * 100.0 / len(tg))
    return VideoMatch(q, t, _verdict(q, t, thresholds))


class VideoIndex:
    """Frame hashes of many videos in one HammingIndex, grouped by video id.

    The quality filter applies when a video is added (`thresholds.quality` is fixed for the
    index's life); distance and percentages may be given per search."""

    def __init__(
        self, thresholds: MatchThresholds = MatchThresholds(), *, borders: bool = True
    ) -> None:
        self.thresholds = thresholds
        self.borders = borders
        self.index = HammingIndex(256, radius=thresholds.distance)
        self._ids: list[Hashable] = []  # video number -> id
        self._number: dict[Hashable, int] = {}
        self._sizes: list[int] = []  # video number -> unique frames indexed
        self._video: list[np.ndarray] = []  # per add: video number of each row
        self._frame: list[np.ndarray] = []  # per add: global unique-frame number of each row
        self._frame_video: list[np.ndarray] = []  # per add: video number of each unique frame
        self._frames_total = 0
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        """Videos indexed."""
        return len(self._ids)

    @property
    def frames(self) -> int:
        """Unique frames indexed, over all videos."""
        return self._frames_total

    def add(self, video_id: Hashable, video: Frames) -> int:
        """Index a video's unique frames under `video_id` (new); returns how many. A video with
        no frame of enough quality is remembered but can never match."""
        if video_id in self._number:
            raise ValueError("video id already indexed")
        groups = unique_frames(video, self.thresholds.quality, self.borders)
        number = len(self._ids)
        self._ids.append(video_id)
        self._number[video_id] = number
        self._sizes.append(len(groups))
        if groups:
            words, owner = _flat(groups)
            self.index.add(words)
            self._video.append(np.full(len(words), number, np.int64))
            self._frame.append(owner + self._frames_total)
            self._frame_video.append(np.full(len(groups), number, np.int64))
            self._frames_total += len(groups)
            self._cache = None
        return len(groups)

    def add_many(self, videos: Iterable[tuple[Hashable, Frames]]) -> None:
        for video_id, video in videos:
            self.add(video_id, video)
        self.index.build()

    def _maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(video of each row, unique frame of each row, video of each unique frame)."""
        if self._cache is None:

            def cat(parts: list[np.ndarray]) -> np.ndarray:
                return np.concatenate(parts) if parts else np.empty(0, np.int64)

            self._cache = (cat(self._video), cat(self._frame), cat(self._frame_video))
        return self._cache

    def search(
        self, query: Frames, thresholds: MatchThresholds | None = None
    ) -> list[VideoCandidate]:
        """Every indexed video sharing a frame with `query`, with its vPDQ percentages and
        verdict, matches first, then by query and target percentage, then insertion order."""
        th = thresholds or self.thresholds
        if th.quality != self.thresholds.quality:
            raise ValueError("the quality filter is fixed when the index is built")
        qg = unique_frames(query, th.quality, self.borders)
        if not qg or not len(self.index):
            return []
        qw, qo = _flat(qg)
        qi, rows, _ = self.index.search_batch(qw, th.distance)
        if not len(rows):
            return []
        video_of, frame_of, frame_video = self._maps()
        # matched unique query frames per video; matched unique target frames (one video each)
        qpairs = np.unique(video_of[rows] * len(qg) + qo[qi])
        vids, qcount = np.unique(qpairs // len(qg), return_counts=True)
        tvids, tcount = np.unique(frame_video[np.unique(frame_of[rows])], return_counts=True)
        tmap = dict(zip(tvids.tolist(), tcount.tolist(), strict=True))
        out = []
        for v, qc in zip(vids.tolist(), qcount.tolist(), strict=True):
            q = qc * 100.0 / len(qg)
            t = tmap.get(v, 0) * 100.0 / self._sizes[v]
            out.append(VideoCandidate(self._ids[v], q, t, _verdict(q, t, th)))
        out.sort(key=lambda c: (not c.is_match, -c.query_percent, -c.target_percent))
        return out  # a stable sort: ties stay in insertion order
