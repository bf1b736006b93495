"""Child processes served over pipes (monitor.core.pipes) and the hash workers built on them: an
answer per request, a dead child fails its calls with ChildGone, and the Hasher replaces a
killed worker and still answers. Real child processes; generated benign images only."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal

import pytest

from hashes import synthetic_video
from hashes.compute import compute
from hashes.synthetic import encode, image, jpeg
from hashes.video import video_signature
from monitor.core.pipes import Child, ChildGone
from spiders import hashing
from spiders.hashing import Hasher, HashWorkerFailed


async def test_child_answers_each_request_and_fails_calls_once_dead():
    child = await Child.spawn("spiders.hashing", "serve")
    try:
        bodies = [jpeg(seed, (160, 120)) for seed in (1, 2, 3)]
        head, tail = bodies[0][:100], bodies[0][100:]
        image = hashing._HEAD.pack(b"I", 0, 0.0)  # the worker's request head: an image
        answers = await asyncio.gather(
            child.call(image + head, tail),  # parts sent back to back
            *(child.call(image, b) for b in bodies[1:]),
        )
        assert [pickle.loads(a) for a in answers] == [compute(b) for b in bodies]
        clip = synthetic_video.clip(3, size=(96, 72), seconds=3)  # a video, one hash a second
        video = pickle.loads(await child.call(hashing._HEAD.pack(b"V", 0, 1.0), clip))
        assert video.ok and video.signature == video_signature(clip, seconds_per_hash=1.0)
        os.kill(child.pid, signal.SIGKILL)
        for _ in range(200):  # the reader sees EOF and marks it dead
            if not child.alive:
                break
            await asyncio.sleep(0.01)
        assert not child.alive
        with pytest.raises(ChildGone):
            await child.call(bodies[0])
    finally:
        child.close()


async def test_hasher_replaces_a_killed_worker():
    hasher = Hasher(1)
    await hasher.start()
    try:
        body = jpeg(7, (160, 120))
        assert await hasher.compute(body) == compute(body)
        (first,) = hasher.pids
        os.kill(first, signal.SIGKILL)
        os.waitpid(first, 0)
        assert await hasher.compute(body) == compute(body)  # on its replacement
        assert hasher.pids and hasher.pids != [first]
    finally:
        hasher.close()
    assert hasher.pids == []


async def test_bytes_two_workers_die_on_fail_and_hashing_goes_on():
    """The bytes are tried once more on a replacement; when that one dies on them too they fail
    with HashWorkerFailed (no observation is made of them), and hashing goes on for others."""
    hasher = Hasher(1)
    await hasher.start()
    try:
        big = encode(image(5, (2000, 1600)), "PNG", compress_level=1)  # ~0.15 s to hash
        task = asyncio.ensure_future(hasher.compute(big))
        killed: list[int] = []
        while not task.done():  # kill each worker while it holds the big body
            for worker in list(hasher._live):
                if worker.pending and worker.pid not in killed:
                    os.kill(worker.pid, signal.SIGKILL)
                    killed.append(worker.pid)
            await asyncio.sleep(0.002)
        with pytest.raises(HashWorkerFailed):
            await task
        assert len(killed) == 2  # the first worker and its replacement
        body = jpeg(8, (160, 120))
        assert await hasher.compute(body) == compute(body)  # on a third worker
        assert hasher.pids and not set(hasher.pids) & set(killed)
    finally:
        hasher.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="CPU time is read from /proc")
async def test_hashing_cpu_time_is_counted_from_ready_and_kept_after_close():
    hasher = Hasher(1)
    await hasher.start()
    try:
        before = hasher.cpu_seconds()  # start-up (numpy, PIL, imagehash: >0.1 s) left out
        assert before is not None and before < 0.05
        for seed in range(40):  # ~0.2 s of hashing: many clock ticks
            await hasher.compute(jpeg(seed, (640, 480)))
        during = hasher.cpu_seconds()
        assert during is not None and during > before + 0.05
    finally:
        hasher.close()
    assert hasher.pids == [] and hasher.cpu_seconds() == pytest.approx(during, abs=0.05)
    assert Hasher(0).cpu_seconds() is None  # hashing inline: nothing to count apart
