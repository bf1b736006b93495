"""The fast pass of hashes.video_decode: decode only what sampled frames need, in parallel.

Every packet is demuxed first (compressed data: no more than the input) and each frame is
numbered by the rank of its timestamp among all packets' timestamps: the reference's output
count while every packet gives one frame. The packets split into segments at fresh starts
(H.264 only: hashes.video_h264): a decoder started there, told the x264 build of the stream's
SEI, gives the same pixels as one that decoded everything before. Other codecs: one segment.
In each segment, the packets up to the last sampled one (decode order) are decoded, those of
frames not sampled with `skip_frame = NONREF` (the decoder drops a frame that no other frame
refers to); the rest of the segment is never decoded (nothing from the next fresh start on
refers to it). Segments are decoded on the usable cores at once, largest first, one
single-threaded decoder each (FFmpeg's frame threads spend some 10-20 % more CPU time on the
same frames), each thread hashing its own sampled frames; without segments to share, one
decoder with frame threads. Anything that breaks the numbering raises Restart: the exact pass
(every frame decoded and counted, as the reference does) runs instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import av

from hashes.video_h264 import h264_access_unit, h264_fresh_starts, nal_length_size
from hashes.video_model import VideoError, VideoLimits, VideoSignature

_SHARE = 0.1  # segments in parallel while none holds more than 1/cores + this of the work
_DECODERS = 4  # at most this many decoders at once (each holds its own reference frames) ...
_DECODER_PIXELS = 2 * 3840 * 2160  # ... and at most this many pixels a frame between them
AV_ERRORS = (av.error.FFmpegError, EOFError)  # what PyAV raises for bad input


def _decoders(limits: VideoLimits, pixels: int) -> int:
    """How many decoders work at once: `limits.threads`, else one a usable core, bounded."""
    if limits.threads:
        return limits.threads
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _DECODERS, _DECODER_PIXELS // max(1, pixels)))


class Restart(Exception):
    """The fast pass cannot number frames as the reference would: run the exact pass."""


@dataclass(frozen=True)
class _Task:
    """One segment: frames numbered first..end-1, the packets to decode (decode order) and
    which of them may be dropped when no other frame refers to theirs."""

    first: int
    end: int
    packets: tuple[av.Packet, ...]
    nonref: tuple[bool, ...]


class FastPass:
    """The fast pass's methods, for hashes.video_decode's _Pass (which holds the state)."""

    limits: VideoLimits
    rank: dict[int, int]
    mod: int
    x264_build: int
    stop: threading.Event
    errors: list[BaseException]
    _packets: Callable[..., Iterator[av.Packet]]
    _check_time: Callable[[], None]
    _threads: Callable[..., None]
    _take: Callable[..., int]
    _finish: Callable[..., VideoSignature]
    _open: Callable[[], Any]

    def _fast(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> VideoSignature:
        packets = list(self._packets(container, stream))
        tasks = self._plan(packets, stream)
        cores = _decoders(self.limits, stream.codec_context.width * stream.codec_context.height)
        work = [len(t.packets) for t in tasks]
        if cores > 1 and len(tasks) > 1 and max(work) <= (1 / cores + _SHARE) * sum(work):
            self._parallel(stream, sorted(tasks, key=lambda t: len(t.packets)), cores)
        elif tasks:
            self._decode_tasks(stream.codec_context, tasks[::-1], threads=self.limits.threads)
        if self.errors:
            raise min(self.errors, key=lambda e: not isinstance(e, VideoError))
        self._check_time()
        return self._finish(stream, len(packets))

    def _plan(self, packets: list[av.Packet], stream: av.video.stream.VideoStream) -> list[_Task]:
        stamps: list[int] = [p.pts for p in packets if p.pts is not None]
        if len(stamps) < len(packets) or len(set(stamps)) < len(stamps):
            raise Restart  # frames cannot be numbered by their timestamps
        order = sorted(range(len(stamps)), key=stamps.__getitem__)
        rank = [0] * len(stamps)
        for n, i in enumerate(order):
            rank[i] = n
        self.rank = {stamps[i]: n for n, i in enumerate(order)}
        starts = self._starts(packets, stream, rank)
        tasks = []
        for a, b in zip(starts, [*starts[1:], len(packets)], strict=True):
            sampled = [i for i in range(a, b) if rank[i] % self.mod == 0]
            if sampled:
                todo = range(a, sampled[-1] + 1)
                nonref = tuple(rank[i] % self.mod != 0 for i in todo)
                tasks.append(_Task(a, b, tuple(packets[i] for i in todo), nonref))
        return tasks

    def _starts(
        self, packets: list[av.Packet], stream: av.video.stream.VideoStream, rank: list[int]
    ) -> list[int]:
        """Where segments begin: fresh starts after which no frame is shown before them."""
        cc = stream.codec_context
        if cc.name != "h264" or not packets:
            return [0]
        size = nal_length_size(cc.extradata)
        fresh, self.x264_build = h264_fresh_starts(
            [h264_access_unit(bytes(p), size) for p in packets]
        )
        starts, shown = [0], -1  # shown: the highest frame number among the packets before i
        for i, n in enumerate(rank):
            if i and i in fresh and shown == i - 1:
                starts.append(i)
            shown = max(shown, n)
        return starts

    def _parallel(
        self, stream: av.video.stream.VideoStream, tasks: list[_Task], cores: int
    ) -> None:
        """Decode the segments on `cores` threads, largest first, one decoder each (PyAV lets
        go of the GIL while FFmpeg decodes). Every other thread opens the input again for a
        decoder set up from the same stream parameters."""
        threads = [threading.Thread(target=self._decode_tasks, args=(stream.codec_context, tasks))]
        threads += [
            threading.Thread(target=self._reopened, args=(tasks,))
            for _ in range(min(cores, len(tasks)) - 1)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _reopened(self, tasks: list[_Task]) -> None:
        try:
            container = self._open()
        except Exception:  # noqa: BLE001 - the other threads take the tasks
            return
        with container:
            self._decode_tasks(container.streams.video[0].codec_context, tasks)

    def _decode_tasks(
        self, cc: av.video.codeccontext.VideoCodecContext, tasks: list[_Task], threads: int = 1
    ) -> None:
        """Decode tasks taken from the end of `tasks` until none is left or a decoder fails.
        With one thread (decoders in parallel), each task's frames are drained before the next
        task; with frame threads (one decoder), the tasks follow on without a pause."""
        drain_each = threads == 1
        try:
            self._threads(cc, threads)
            last = -1  # the number of the last frame out: they come out in order
            while not self.stop.is_set():
                try:
                    task = tasks.pop()
                except IndexError:
                    break
                if drain_each:
                    last = task.first - 1
                for packet, nonref in zip(task.packets, task.nonref, strict=True):
                    self._check_time()
                    if self.stop.is_set():
                        return
                    cc.skip_frame = "NONREF" if nonref else "DEFAULT"
                    for frame in cc.decode(packet):
                        last = self._take(frame, last, task.end)
                if drain_each:
                    last = self._drain(cc, last, task.end)
            if not drain_each and not self.stop.is_set():
                self._drain(cc, last, len(self.rank))
        except AV_ERRORS:
            self.errors.append(Restart())  # the exact pass finds where the input stops
            self.stop.set()
        except Exception as e:  # noqa: BLE001 - handed to the caller's thread
            self.errors.append(e)
            self.stop.set()

    def _drain(self, cc: av.video.codeccontext.VideoCodecContext, last: int, end: int) -> int:
        for frame in cc.decode(None):
            last = self._take(frame, last, end)
        cc.flush_buffers()
        return last
