"""Hashing fetched bytes off the event loop: in worker processes (the second core) or inline.

Workers are child processes fed through their stdin/stdout pipes by the event loop itself
(monitor.core.pipes: no helper threads in the crawl process): a request is a small head (image or
video; for a video whether the bytes are a prefix and its sampling step) and the bytes, an
answer the pickled MediaHashes or VideoHashes (hashes.video: vPDQ, decoded within VIDEO_LIMITS;
a worker remembers the signatures of the last VIDEO_MEMO videos by the digest of their bytes).
The bytes travel in memory (a pipe) and are dropped once hashed; only
hashes come back. Nothing touches the disk. A worker that dies is replaced, and what it was
hashing is tried once more on its replacement (then HashWorkerFailed: no observation is made).

`exact_match` is a recheck's cheap first step on every complete 2xx body, whatever its headers
say: when the baseline holds an exact digest and the bytes have it, the reported material is
served byte for byte; no decoding is needed for that. `baseline_of` is what a first check keeps.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import pickle
import struct
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hashes.compute import MediaHashes, compute, failed_hashes
from hashes.match import EXACT, Comparison, compare_to_baseline
from hashes.video import VideoHashes, VideoLimits, compute_video
from monitor.core import pipes
from monitor.core.pipes import Child, ChildGone

_BIG = 1 << 20  # digest bodies larger than this off the loop
# Images sent to a worker and not answered yet: enough queued that the worker stays busy while
# the event loop is away (matching a page's batch takes several ms; bench/bench_watch.py: 6 in
# flight scanned ~9% faster than 2). Its pipes are enlarged to hold them (monitor.core.pipes).
IN_FLIGHT = 6
# A video is decoded within these bounds (a check's video is at most max_download_bytes; a
# signature that takes longer than this is no evidence either way: VideoTimeBudget).
VIDEO_LIMITS = VideoLimits(time_budget=30.0)
_HEAD = struct.Struct("<cBd")  # b"I" image | b"V" video, partial (0/1), seconds per hash


class HashWorkerFailed(RuntimeError):
    """A worker process died twice while hashing the same bytes."""


def exact_match(body: bytes, baseline: list[tuple[str, str]] | tuple) -> Comparison | None:
    """The baseline's exact-digest match of `body` (hashes.match policy), computing only the
    digests the baseline holds; None when it holds none or none is equal."""
    wanted = {algorithm.strip().lower() for algorithm, _ in baseline} & set(EXACT)
    if not wanted:
        return None
    digests = {a: hashlib.new(a, body).hexdigest() if a in wanted else "" for a in EXACT}
    only = failed_hashes("digests only", digests)
    found = compare_to_baseline(list(baseline), only)
    return found if found is not None and found.matched else None


def baseline_of(h: MediaHashes) -> tuple[tuple[str, str, int | None], ...]:
    """The baseline a first check takes from hashed bytes: (algorithm, hash, PDQ quality)."""
    out: list[tuple[str, str, int | None]] = []
    if h.phash:
        out.append(("phash", h.phash, None))
    if h.pdq:
        out.append(("pdq", h.pdq, h.pdq_quality))
    out.append(("sha256", h.sha256, None))
    return tuple(out)


async def exact_match_async(
    body: bytes, baseline: list[tuple[str, str]] | tuple
) -> Comparison | None:
    """`exact_match`, in a thread for large bodies (hashlib releases the GIL)."""
    if len(body) > _BIG:
        return await asyncio.to_thread(exact_match, body, baseline)
    return exact_match(body, baseline)


class Hasher:
    """`await compute(bytes)`: in `workers` child processes, or inline when workers is 0."""

    def __init__(self, workers: int = 0) -> None:
        self.workers = max(0, int(workers))
        self._live: list[Child] = []
        self._lock: asyncio.Lock | None = None
        self._closed = False
        self._starting: asyncio.Future | None = None
        self._room: asyncio.Semaphore | None = None  # IN_FLIGHT per worker
        self._cpu_closed = 0.0  # CPU seconds of workers closed so far

    async def start(self) -> None:
        """Start the workers and wait until each has imported its libraries."""
        await self._ensure()

    def start_soon(self) -> None:
        """Start the workers in the background; `compute` waits for them when it needs them
        (and raises there, if they cannot start)."""
        self._starting = asyncio.ensure_future(self._ensure())
        self._starting.add_done_callback(
            lambda done: done.cancelled() or done.exception()
        )  # retrieved; compute re-raises

    def _prune(self) -> None:
        for worker in self._live:
            if not worker.alive:
                self._retire(worker)
        self._live = [w for w in self._live if w.alive]

    def _retire(self, worker: Child) -> None:
        worker.close()  # reaps it
        self._cpu_closed += worker.cpu_seconds() or 0.0

    async def _ensure(self) -> list[Child]:
        self._prune()
        if len(self._live) >= self.workers or self._closed:
            return self._live
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._prune()
            missing = self.workers - len(self._live)
            if missing > 0:
                self._live += await asyncio.gather(
                    *(Child.spawn("spiders.hashing", "serve") for _ in range(missing))
                )
            if self._closed:  # closed while they started
                self.close()
        return self._live

    async def compute(self, body: bytes) -> MediaHashes:
        if self.workers == 0 or self._closed:
            return compute(body)
        return await self._remote(_HEAD.pack(b"I", 0, 0.0), body)

    async def compute_video(
        self, body: bytes, *, partial: bool, seconds_per_hash: float
    ) -> VideoHashes:
        """The vPDQ signature of a video's bytes (`partial`: a prefix of the file)."""
        if self.workers == 0 or self._closed:  # off the loop, one video at a time
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                _inline_videos(), _video, body, partial, seconds_per_hash
            )
        return await self._remote(_HEAD.pack(b"V", int(partial), seconds_per_hash), body)

    async def _remote(self, head: bytes, body: bytes) -> Any:
        if self._room is None:
            self._room = asyncio.Semaphore(IN_FLIGHT * self.workers)
        async with self._room:
            for _attempt in range(2):
                live = await self._ensure()
                if not live:  # closed meanwhile
                    return _answer(head + body)
                worker = min(live, key=lambda w: len(w.pending))
                try:
                    return pickle.loads(await worker.call(head, body))
                except ChildGone:
                    continue
        raise HashWorkerFailed("hash worker died twice on the same bytes")

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.pid for w in self._live if w.alive]

    def cpu_seconds(self) -> float | None:
        """CPU time the worker processes have used, those replaced or closed included (Linux;
        None elsewhere or with no workers): what hashing cost, apart from the event loop."""
        if self.workers == 0 or not sys.platform.startswith("linux"):
            return None
        return self._cpu_closed + sum(w.cpu_seconds() or 0.0 for w in self._live)

    def close(self) -> None:
        self._closed = True
        for worker in self._live:
            self._retire(worker)
        self._live = []


def serve() -> None:
    """A worker's loop (monitor.core.pipes.serve): bytes in, pickled MediaHashes out."""
    pipes.serve(_hash, warm=_warm)


def _hash(payload: bytes) -> bytes:
    return pickle.dumps(_answer(payload), protocol=pickle.HIGHEST_PROTOCOL)


def _answer(payload: bytes) -> MediaHashes | VideoHashes:
    kind, partial, seconds = _HEAD.unpack_from(payload)
    body = payload[_HEAD.size :]
    if kind == b"V":
        return _video(body, bool(partial), seconds)
    return compute(body)


@functools.cache
def _inline_videos() -> ThreadPoolExecutor:
    """The thread that hashes videos when there are no worker processes (tests, the demo): one,
    so that decoding leaves the event loop its share of the interpreter."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ntd-video")


def _video(body: bytes, partial: bool, seconds_per_hash: float) -> VideoHashes:
    """A video's hashes, remembered by the digest of the bytes read (never the bytes): the same
    file read again (a gallery scanned daily, a video rechecked) is not decoded again."""
    key = (hashlib.sha256(body).hexdigest(), partial, seconds_per_hash)
    known = _VIDEO_MEMO.get(key)
    if known is not None:
        _VIDEO_MEMO.move_to_end(key)
        return known
    found = compute_video(
        body, limits=VIDEO_LIMITS, seconds_per_hash=seconds_per_hash, partial=partial
    )
    if found.error_kind != "time_budget":  # (a loaded machine's failure may pass next time)
        _VIDEO_MEMO[key] = found
        if len(_VIDEO_MEMO) > VIDEO_MEMO:
            _VIDEO_MEMO.popitem(last=False)
    return found


VIDEO_MEMO = 4096  # signatures remembered per process (a few KB each)
_VIDEO_MEMO: OrderedDict[tuple[str, bool, float], VideoHashes] = OrderedDict()


def _warm() -> bytes:
    compute(b"")  # import PIL, numpy and imagehash before saying ready
    return b""
