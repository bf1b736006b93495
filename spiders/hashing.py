"""Hashing fetched bytes off the event loop: in worker processes (the second core) or inline.

Workers are child processes fed through their stdin/stdout pipes by the event loop itself: a
request is (id, length, bytes), an answer (id, length, pickled MediaHashes). The crawl process
runs no helper threads for this: with a ProcessPoolExecutor its manager and queue-feeder threads
took the GIL from the event loop on every image (measured: ~0.8 ms of crawl-process CPU per
image, most of what hashing it inline costs). The bytes travel in memory (a pipe) and are
dropped once hashed; only hashes come back. Nothing touches the disk. A worker that dies is
replaced, and what it was hashing is tried once more on its replacement (then
HashWorkerFailed: no observation is made).

`exact_match` is a recheck's cheap first step: when the baseline holds an exact digest and the
bytes have it, the reported material is served byte for byte; no decoding is needed for that.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import itertools
import os
import pickle
import signal
import struct
import subprocess
import sys
from pathlib import Path

from hashes.compute import MediaHashes, compute
from hashes.match import EXACT, Comparison, compare_to_baseline

_HEAD = struct.Struct("!IQ")          # request id, payload length
_ROOT = str(Path(__file__).resolve().parent.parent)
_WORKER = f"import sys; sys.path.insert(0, {_ROOT!r}); from spiders.hashing import serve; serve()"
_BIG = 1 << 20                        # digest bodies larger than this off the loop
# Images sent to a worker and not answered yet: enough queued that the worker stays busy while
# the event loop is away (matching a page's batch takes several ms; bench/bench_watch.py: 6 in
# flight scanned ~9% faster than 2). Its pipes are enlarged to hold them (PIPE_BYTES, Linux), so
# the loop writes an image in one syscall instead of one per chunk as the worker drains it.
IN_FLIGHT = 6
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class HashWorkerFailed(RuntimeError):
    """A worker process died twice while hashing the same bytes."""


class _Gone(Exception):
    """The worker holding a request died."""


def exact_match(body: bytes, baseline: list[tuple[str, str]] | tuple) -> Comparison | None:
    """The baseline's exact-digest match of `body` (hashes.match policy), computing only the
    digests the baseline holds; None when it holds none or none is equal."""
    wanted = {algorithm.strip().lower() for algorithm, _ in baseline} & set(EXACT)
    if not wanted:
        return None
    digests = {a: hashlib.new(a, body).hexdigest() if a in wanted else "" for a in EXACT}
    only = MediaHashes(ok=False, error="digests only", format=None, width=0, height=0,
                       phash=None, dhash=None, pdq=None, pdq_quality=None, **digests)
    found = compare_to_baseline(list(baseline), only)
    return found if found is not None and found.matched else None


async def exact_match_async(body: bytes, baseline: list[tuple[str, str]] | tuple
                            ) -> Comparison | None:
    """`exact_match`, in a thread for large bodies (hashlib releases the GIL)."""
    if len(body) > _BIG:
        return await asyncio.to_thread(exact_match, body, baseline)
    return exact_match(body, baseline)


class _Worker:
    """One child process and the event loop's two pipes to it (no threads, no child watcher:
    the process is reaped when it is closed)."""

    def __init__(self, popen: subprocess.Popen, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, transports: tuple) -> None:
        self.popen = popen
        self.reader = reader
        self.writer = writer
        self.transports = transports
        self.pending: dict[int, asyncio.Future[MediaHashes]] = {}
        self.dead = False
        self.task: asyncio.Task | None = None

    @property
    def alive(self) -> bool:
        return not (self.dead or self.writer.is_closing())

    async def read(self) -> None:
        try:
            while True:
                ident, size = _HEAD.unpack(await self.reader.readexactly(_HEAD.size))
                answer = pickle.loads(await self.reader.readexactly(size))
                future = self.pending.pop(ident, None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.dead = True
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(_Gone())
            self.pending.clear()
            self.popen.poll()  # reap it if it has exited

    def close(self) -> None:
        self.dead = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
        for transport in self.transports:
            try:
                transport.close()
            except RuntimeError:  # its loop is closed already
                pass
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


class Hasher:
    """`await compute(bytes)`: in `workers` child processes, or inline when workers is 0."""

    def __init__(self, workers: int = 0) -> None:
        self.workers = max(0, int(workers))
        self._live: list[_Worker] = []
        self._ids = itertools.count()
        self._lock: asyncio.Lock | None = None
        self._closed = False
        self._starting: asyncio.Future | None = None
        self._room: asyncio.Semaphore | None = None  # IN_FLIGHT per worker

    async def start(self) -> None:
        """Start the workers and wait until each has imported its libraries."""
        await self._ensure()

    def start_soon(self) -> None:
        """Start the workers in the background; `compute` waits for them when it needs them
        (and raises there, if they cannot start)."""
        self._starting = asyncio.ensure_future(self._ensure())
        self._starting.add_done_callback(
            lambda done: done.cancelled() or done.exception())  # retrieved; compute re-raises

    def _prune(self) -> None:
        for worker in self._live:
            if not worker.alive:
                worker.close()  # reaps it
        self._live = [w for w in self._live if w.alive]

    async def _ensure(self) -> list[_Worker]:
        self._prune()
        if len(self._live) >= self.workers or self._closed:
            return self._live
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._prune()
            missing = self.workers - len(self._live)
            if missing > 0:
                self._live += await asyncio.gather(*(_spawn() for _ in range(missing)))
            if self._closed:  # closed while they started
                self.close()
        return self._live

    async def compute(self, body: bytes) -> MediaHashes:
        if self.workers == 0 or self._closed:
            return compute(body)
        if self._room is None:
            self._room = asyncio.Semaphore(IN_FLIGHT * self.workers)
        async with self._room:
            return await self._remote(body)

    async def _remote(self, body: bytes) -> MediaHashes:
        for _attempt in range(2):
            live = await self._ensure()
            if not live:  # closed meanwhile
                return compute(body)
            worker = min(live, key=lambda w: len(w.pending))
            ident = next(self._ids)
            future = asyncio.get_running_loop().create_future()
            worker.pending[ident] = future
            try:
                worker.writer.write(_HEAD.pack(ident, len(body)))
                worker.writer.write(body)
                await worker.writer.drain()
                return await future
            except (_Gone, ConnectionError):
                worker.dead = True
            finally:
                worker.pending.pop(ident, None)
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: a dead worker's _Gone is handled here
        raise HashWorkerFailed("hash worker died twice on the same bytes")

    def close(self) -> None:
        self._closed = True
        for worker in self._live:
            worker.close()
        self._live = []


async def _spawn() -> _Worker:
    popen = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    if sys.platform.startswith("linux"):
        for pipe in (popen.stdin, popen.stdout):
            if pipe is None:
                continue
            try:
                fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:   # above /proc/sys/fs/pipe-max-size: the default size still works
                pass
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    rtransport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), popen.stdout)
    wtransport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                         popen.stdin)
    writer = asyncio.StreamWriter(wtransport, protocol, None, loop)
    worker = _Worker(popen, reader, writer, (wtransport, rtransport))
    try:
        await reader.readexactly(_HEAD.size)  # the worker is ready
    except BaseException:
        worker.close()
        raise
    worker.task = asyncio.ensure_future(worker.read())
    return worker


def serve() -> None:
    """A worker's loop: read (id, length, bytes), answer (id, length, pickled hashes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the crawl stops us (EOF), not Ctrl-C
    inp = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the answer stream
    compute(b"")  # import PIL, numpy and imagehash before saying ready
    out.write(_HEAD.pack(0, 0))
    out.flush()
    while True:
        head = inp.read(_HEAD.size)
        if len(head) < _HEAD.size:
            return
        ident, size = _HEAD.unpack(head)
        body = inp.read(size)
        if len(body) < size:
            return
        answer = pickle.dumps(compute(body), protocol=pickle.HIGHEST_PROTOCOL)
        del body
        out.write(_HEAD.pack(ident, len(answer)) + answer)
        out.flush()
