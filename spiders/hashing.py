"""Hashing fetched bytes off the event loop: in a process pool (the second core) or inline.

The bytes travel to the worker through a pipe in memory and are dropped after hashing; only the
hashes come back. Nothing touches the disk.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor

from hashes.compute import MediaHashes, compute


def _warm() -> bool:
    compute(b"")  # imports PIL, numpy and imagehash once per worker
    return True


class Hasher:
    def __init__(self, workers: int = 0) -> None:
        self.workers = workers
        self._pool: Executor | None = None
        if workers > 0:
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    async def start(self) -> None:
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(self._pool, _warm)
                                   for _ in range(self.workers)))

    async def compute(self, body: bytes) -> MediaHashes:
        if self._pool is None:
            return compute(body)
        return await asyncio.get_running_loop().run_in_executor(self._pool, compute, body)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
