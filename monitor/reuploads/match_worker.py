"""Re-upload matching in a child process: the index lives there, the crawl loop stays free.

A crawl's event loop is one thread. Hashing already runs in worker processes
(spiders.hashing); matching a page's hashes against a million-entry index (~0.5 ms per image)
and building that index from the store (seconds) were the rest of its CPU per image, and made
it the bottleneck of a watch scan (bench/bench_watch.py). A `MatchWorker` moves both into one
child process (monitor.core.pipes): the child builds the index (monitor.reuploads.index.load_index)
while the crawl's first pages load, then answers each batch of image hashes with their confirmed
matches. The crawl process keeps only what deciding a re-upload needs besides the matches
(which reports have a baseline, what a tracked re-upload copies): a few sets, not the index.

Only hashes and match records cross the pipe (pickled); the child opens the store read-only.
A child that dies is replaced, which rebuilds the index, and the batch is tried once more; a
second death (or an index the child cannot build) raises MatchWorkerFailed, and the Recorder
(monitor.reuploads.record) matches in the crawl process from then on: no image goes unmatched.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time
from collections.abc import Sequence
from typing import Any

from hashes.compute import MediaHashes
from hashes.match import Match
from monitor.core.config import Config
from monitor.core.pipes import Child, ChildGone


class MatchWorkerFailed(RuntimeError):
    """The match process died twice on the same batch, or could not build its index."""


class MatchWorker:
    """The parent's handle on one match process: `await index()`, `await match_many(hs)`."""

    def __init__(self, db_path: str | os.PathLike[str], config: Config) -> None:
        self.db_path = str(db_path)
        self.config = config
        self.index_seconds = 0.0  # wall time of the child's index builds
        self.match_seconds = 0.0  # the child's CPU time matching
        self.cpu_closed = 0.0  # all CPU time of the children closed so far (Linux)
        self.images = 0
        self._child: Child | None = None
        self._view: Any = None  # monitor.reuploads.index.ReuploadIndex without its matcher
        self._starting: asyncio.Future | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False

    def start_soon(self) -> None:
        """Start the child and its index build in the background (errors surface on use)."""
        if self._starting is None and not self._closed:
            self._starting = asyncio.ensure_future(self._ensure())
            self._starting.add_done_callback(
                lambda done: done.cancelled() or done.exception()
            )  # retrieved; use re-raises

    async def index(self) -> Any:
        """The parent's view of the index (a ReuploadIndex whose matcher is None)."""
        await self._ensure()
        return self._view

    async def _ensure(self) -> Child:
        if self._closed:
            raise MatchWorkerFailed("the match process is closed")
        if self._child is not None and self._child.alive:
            return self._child
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._child is not None and self._child.alive:
                return self._child
            if self._child is not None:
                self._retire(self._child)
                self._child = None
            try:
                child = await Child.spawn("monitor.reuploads.match_worker", "serve")
            except (OSError, asyncio.IncompleteReadError) as exc:
                raise MatchWorkerFailed(f"cannot start the match process: {exc}") from None
            try:
                answer = pickle.loads(
                    await child.call(
                        pickle.dumps((self.db_path, self.config), pickle.HIGHEST_PROTOCOL)
                    )
                )
            except ChildGone:
                self._retire(child)
                raise MatchWorkerFailed("the match process died building its index") from None
            except BaseException:  # cancelled (the crawl closed while it was building)
                self._retire(child)
                raise
            if isinstance(answer, BaseException):
                self._retire(child)
                raise MatchWorkerFailed(
                    f"the match process could not build its index: {answer}"
                ) from answer
            self._view, seconds = answer
            self.index_seconds += seconds
            if self._closed:
                self._retire(child)
                raise MatchWorkerFailed("the match process is closed")
            self._child = child
            return child

    async def match_many(self, hs: Sequence[MediaHashes]) -> list[list[Match]]:
        """`hashes.match.Matcher.match_many` of the batch, in the child."""
        payload = pickle.dumps(list(hs), pickle.HIGHEST_PROTOCOL)
        for _attempt in range(2):
            child = await self._ensure()
            try:
                answer = pickle.loads(await child.call(payload))
            except ChildGone:
                continue
            if isinstance(answer, BaseException):
                raise answer
            found, cpu = answer
            self.match_seconds += cpu
            self.images += len(hs)
            return found
        raise MatchWorkerFailed("the match process died twice on the same batch")

    @property
    def entries(self) -> int | None:
        """Entries in the child's index, once built."""
        return self._view.entries if self._view is not None else None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def close(self) -> None:
        self._closed = True
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self._child is not None:
            self._retire(self._child)
            self._child = None

    def _retire(self, child: Child) -> None:
        child.close()
        self.cpu_closed += child.cpu_seconds() or 0.0


# -- the child ------------------------------------------------------------------------------

_index: Any = None


def serve() -> None:
    """The match process: first request (db_path, config) builds the index, every later one
    is a list of MediaHashes to match."""
    # in the child process only: the parent's crawl loop never loads the serving side
    from monitor.core import pipes

    pipes.serve(_handle, warm=_warm)


def _warm() -> bytes:
    import hashes.match  # noqa: F401 - numpy and the index code before saying ready
    import monitor.reuploads.index  # noqa: F401 - and the index loader, warm too

    return b""


def _handle(payload: bytes) -> bytes:
    global _index
    try:
        request = pickle.loads(payload)
        if _index is None:
            answer: Any = _build(*request)
        else:
            cpu = time.thread_time()
            found = _index.matcher.match_many(request)
            answer = (found, time.thread_time() - cpu)
    except Exception as exc:  # noqa: BLE001 - the parent raises it; the child keeps serving
        answer = exc
    try:
        return pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - an exception that does not pickle
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"), pickle.HIGHEST_PROTOCOL)


def _build(db_path: str, config: Config) -> tuple[Any, float]:
    global _index
    # the child builds the index: loaded there, never in the crawl's process
    from dataclasses import replace

    from monitor import store
    from monitor.reuploads.index import load_index

    started = time.monotonic()
    db = store.connect(db_path, readonly=True)
    try:
        _index = load_index(db, config)
    finally:
        db.conn.close()
    return replace(_index, matcher=None), time.monotonic() - started
