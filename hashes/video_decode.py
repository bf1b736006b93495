"""The workings of hashes.video: decode with PyAV from memory, number frames, sample, hash.

Numbering follows the vPDQ reference: frames are counted in the decoder's output order from 0,
and frame n is sampled when n % mod == 0, mod = max(1, int(seconds_per_hash * frame_rate)).

The fast pass demuxes every packet first (compressed data: no more than the input) and numbers
each frame by the rank of its timestamp among all packets' timestamps: the reference's output
count while every packet gives one frame. It then decodes only what sampled frames need. The
packets split into segments at fresh starts (H.264 only: an IDR picture that carries every
in-band parameter set, after which no frame is shown before it; hashes.video_model's
h264_fresh_starts): a decoder started there, told the x264 build of the stream's SEI, gives
the same pixels as one that decoded everything before. Other codecs: one segment. In each
segment, the packets up to the last sampled one (decode order) are decoded, those of frames not
sampled with `skip_frame = NONREF` (the decoder drops a frame that no other frame refers to);
the rest of the segment is never decoded (nothing from the next fresh start on refers to it).
Segments are decoded on the usable cores at once, largest first, one single-threaded decoder
each (FFmpeg's frame threads spend some 10-20 % more CPU time on the same frames), each thread
hashing its own sampled frames; without segments to share, one decoder with frame threads.
When a sampled frame goes missing, a packet has no or a repeated timestamp, a frame comes out
of order or out of its segment, or the decoder fails, the exact pass (every frame decoded and
counted, as the reference does) runs instead.

Luma: by default straight from the 8-bit Y plane, scaled from video range (16..235) to 0..255
as the reference's RGB conversion implies (BT.601 coefficients, full range only for the yuvj
formats and full-range-tagged frames); `exact` converts to RGB24 as the reference does (FFmpeg's
swscale) and takes luma with PDQ's coefficients: bit-identical hashes, several times slower.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from hashes.pdq import luma_from_rgb, pdq_from_luma
from hashes.video_border import content_box
from hashes.video_model import (
    FrameHash,
    VideoError,
    VideoLimits,
    VideoSignature,
    VideoTimeBudget,
    VideoTooLarge,
    VideoTruncated,
    VideoUndecodable,
    bmff_complete,
    h264_access_unit,
    h264_fresh_starts,
    nal_length_size,
)

_SHARE = 0.1  # segments in parallel while none holds more than 1/cores + this of the work
_DECODERS = 4  # at most this many decoders at once (each holds its own reference frames) ...
_DECODER_PIXELS = 2 * 3840 * 2160  # ... and at most this many pixels a frame between them
_VIDEO_RANGE = np.float32(255.0 / 219.0)
_Y_PLANE = frozenset(  # 8-bit formats whose first plane is the luma
    "yuv420p yuv422p yuv444p yuv440p yuv411p yuv410p yuva420p yuva422p yuva444p nv12 nv21 nv16 "
    "nv24 yuvj420p yuvj422p yuvj444p yuvj440p yuvj411p".split()
)
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_AV_ERRORS = (av.error.FFmpegError, EOFError)  # what PyAV raises for bad input


def frame_luma(frame: av.VideoFrame, exact: bool = False) -> np.ndarray:
    """Float32 luma of a decoded frame, as the reference computes it from RGB24."""
    name = frame.format.name
    if exact or name not in _Y_PLANE:
        return luma_from_rgb(frame.to_ndarray(format="rgb24"))
    plane = frame.planes[0]
    w, h, stride = frame.width, frame.height, plane.line_size
    y = np.frombuffer(memoryview(plane), np.uint8, count=stride * h).reshape(h, stride)[:, :w]
    if name.startswith("yuvj") or frame.color_range == _FULL_RANGE:
        return y.astype(np.float32)
    luma = y.astype(np.float32)
    luma -= 16
    luma *= _VIDEO_RANGE
    return luma


def _decoders(limits: VideoLimits, pixels: int) -> int:
    """How many decoders work at once: `limits.threads`, else one a usable core, bounded."""
    if limits.threads:
        return limits.threads
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _DECODERS, _DECODER_PIXELS // max(1, pixels)))


class _Restart(Exception):
    """The fast pass cannot number frames as the reference would: run the exact pass."""


@dataclass(frozen=True)
class _Task:
    """One segment: frames numbered first..end-1, the packets to decode (decode order) and
    which of them may be dropped when no other frame refers to theirs."""

    first: int
    end: int
    packets: tuple[av.Packet, ...]
    nonref: tuple[bool, ...]


def decode_signature(
    data: bytes,
    fmt: str,
    limits: VideoLimits,
    seconds_per_hash: float,
    *,
    partial: bool,
    exact: bool,
    borders: bool,
) -> VideoSignature:
    deadline = time.monotonic() + limits.time_budget
    args = (data, fmt, limits, seconds_per_hash, partial, exact, borders, deadline)
    try:
        return _Pass(*args, fast=True).run()
    except _Restart:
        return _Pass(*args, fast=False).run()


class _Pass:
    """One decoding pass over the whole input (fast: decodes only what sampled frames need)."""

    def __init__(
        self,
        data: bytes,
        fmt: str,
        limits: VideoLimits,
        seconds_per_hash: float,
        partial: bool,
        exact: bool,
        borders: bool,
        deadline: float,
        *,
        fast: bool,
    ) -> None:
        self.data, self.fmt, self.limits = data, fmt, limits
        self.seconds_per_hash, self.partial, self.exact = seconds_per_hash, partial, exact
        self.borders = borders
        self.deadline, self.fast = deadline, fast
        self.hashes: list[FrameHash] = []
        self.out: list[int] = []  # numbers of the frames out of the decoder(s)
        self.rank: dict[int, int] = {}  # fast pass: timestamp -> frame number
        self.packets = 0
        self.x264_build = -1
        self.truncated = partial
        self.stop = threading.Event()  # a worker failed: the others give up
        self.errors: list[BaseException] = []

    def _check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise VideoTimeBudget(f"not decoded within {self.limits.time_budget:g} s")

    def _open(self) -> av.container.InputContainer:
        remaining = max(0.1, self.deadline - time.monotonic())
        return av.open(
            io.BytesIO(self.data),
            mode="r",
            format=self.fmt,
            options={"max_pixels": str(self.limits.max_pixels)},
            timeout=(remaining, remaining),
        )

    def run(self) -> VideoSignature:
        if self.fmt == "mov":
            end = bmff_complete(self.data)
            if end < len(self.data):
                self.data, self.truncated = self.data[:end], True
        try:
            container = self._open()
        except _AV_ERRORS:
            self._check_time()
            if self.partial:
                raise VideoTruncated(f"no decodable {self.fmt} header in the prefix") from None
            raise VideoUndecodable(f"cannot open as {self.fmt}") from None
        try:
            stream = self._setup(container)
            return self._fast(container, stream) if self.fast else self._exact(container, stream)
        finally:
            container.close()

    def _setup(self, container: av.container.InputContainer) -> av.video.stream.VideoStream:
        if not container.streams.video:
            raise VideoUndecodable("no video stream")
        stream = container.streams.video[0]
        cc = stream.codec_context
        if cc is None:
            raise VideoUndecodable("no decoder for the video codec")
        w, h = cc.width, cc.height
        if w <= 0 or h <= 0:
            raise VideoUndecodable("no frame size")
        if w * h > self.limits.max_pixels:
            raise VideoTooLarge(f"{w}x{h} pixels a frame > {self.limits.max_pixels}")
        rate = stream.average_rate or stream.base_rate
        if not rate or rate <= 0:
            raise VideoUndecodable("no frame rate")
        self.rate = float(rate)
        self.mod = max(1, int(self.seconds_per_hash * self.rate))
        self.tb = stream.time_base or Fraction(1, 90000)
        self.duration = self._declared(container, stream)
        if self.duration is not None and self.duration > self.limits.max_duration:
            raise VideoTooLarge(f"{self.duration:.0f} s > {self.limits.max_duration:g} s")
        if stream.frames and stream.frames > self.limits.max_frames:
            raise VideoTooLarge(f"{stream.frames} frames > {self.limits.max_frames}")
        self.start = stream.start_time
        self._threads(cc, self.limits.threads)
        return stream

    def _threads(self, cc: av.video.codeccontext.VideoCodecContext, count: int) -> None:
        """Frame threads (count 0: FFmpeg's choice from the usable cores; 1: none)."""
        cc.thread_type = "AUTO"
        cc.thread_count = count
        options = {"max_pixels": str(self.limits.max_pixels)}
        if self.x264_build >= 0:
            options["x264_build"] = str(self.x264_build)
        cc.options = options

    def _declared(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> float | None:
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration:
            return container.duration / 1_000_000
        return None

    def _admit(self, packet: av.Packet) -> None:
        """Count and bound a packet: frames, and duration by its timestamp."""
        self.packets += 1
        if self.packets > self.limits.max_frames:
            raise VideoTooLarge(f"more than {self.limits.max_frames} frames")
        pts = packet.pts
        if pts is not None:
            if self.start is None:
                self.start = pts
            if float((pts - self.start) * self.tb) > self.limits.max_duration:
                raise VideoTooLarge(f"longer than {self.limits.max_duration:g} s")

    def _packets(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[av.Packet]:
        """The stream's packets, counted and bounded; the input ends (truncated) at a short read
        or where the container breaks."""
        try:
            for packet in container.demux(stream):
                self._check_time()
                if packet.size == 0:
                    continue  # the demuxer's final empty packet
                if packet.is_corrupt:  # read short: the input ends inside this packet
                    self.truncated = True
                    return
                self._admit(packet)
                yield packet
        except _AV_ERRORS:
            self.truncated = True

    # -- the exact pass: every frame, numbered as it comes out ----------------------------------

    def _exact(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> VideoSignature:
        cc = stream.codec_context
        for packet in self._packets(container, stream):
            if not self._feed(cc, packet):
                break
        self._check_time()
        self._feed(cc, None)
        return self._finish(stream, len(self.out))

    def _feed(self, cc: av.video.codeccontext.VideoCodecContext, packet: av.Packet | None) -> bool:
        """Decode a packet (None: flush), number and hash its frames; False when the decoder
        failed (the input stops there)."""
        try:
            for frame in cc.decode(packet):
                self._take(frame, -1)
        except _AV_ERRORS:
            self.truncated = True
            return False
        return True

    # -- the fast pass: segments, decoded in parallel ---------------------------------------------

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
            raise _Restart  # frames cannot be numbered by their timestamps
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
        except _AV_ERRORS:
            self.errors.append(_Restart())  # the exact pass finds where the input stops
            self.stop.set()
        except Exception as e:  # noqa: BLE001 - handed to the caller's thread
            self.errors.append(e)
            self.stop.set()

    def _drain(self, cc: av.video.codeccontext.VideoCodecContext, last: int, end: int) -> int:
        for frame in cc.decode(None):
            last = self._take(frame, last, end)
        cc.flush_buffers()
        return last

    # -- numbering, hashing, the signature --------------------------------------------------------

    def _take(self, frame: av.VideoFrame, last: int, end: int | None = None) -> int:
        """Number and, when sampled, hash a frame; its number. `last` and `end` (fast pass):
        the frame must come after `last` and before `end`."""
        if frame.width * frame.height > self.limits.max_pixels:
            raise VideoTooLarge(f"a {frame.width}x{frame.height} frame")
        if end is None:
            n = len(self.out)  # the exact pass: counted as they come out
        else:
            got = self.rank.get(frame.pts) if frame.pts is not None else None
            if got is None or not last < got < end:
                raise _Restart  # not where the reference's count puts it
            n = got
        self.out.append(n)
        if n % self.mod == 0:
            self._hash(frame, n)
        return n

    def _hash(self, frame: av.VideoFrame, n: int) -> None:
        luma = frame_luma(frame, self.exact)
        pdq, quality, _ = pdq_from_luma(luma, dihedral=False)
        inner, inner_quality = None, 0
        box = content_box(luma) if self.borders else None
        if box is not None:
            t, b, lft, r = box
            inner, inner_quality, _ = pdq_from_luma(luma[t:b, lft:r], dihedral=False)
        stamp = float(np.float32(n) / np.float32(self.rate))
        self.hashes.append(FrameHash(pdq, quality, n, stamp, inner, inner_quality))

    def _finish(self, stream: av.video.stream.VideoStream, total: int) -> VideoSignature:
        if self.fast:
            if self.truncated:
                total = max(self.out, default=-1) + 1  # frames after the last one out: not counted
            got = {f.frame for f in self.hashes}
            if len(got) < len(self.hashes) or any(n not in got for n in range(0, total, self.mod)):
                raise _Restart  # a sampled frame missing (or twice): numbering was off
        if not self.hashes and (self.truncated or total == 0):
            if self.partial:
                raise VideoTruncated("no frame decodes in the prefix")
            raise VideoUndecodable("no frame decodes")
        if (
            not self.truncated
            and self.duration is not None
            and total / self.rate < 0.95 * self.duration - 1.0
        ):
            self.truncated = True  # the frames stop well before the declared end: cut short
        cc = stream.codec_context
        return VideoSignature(
            frames=tuple(sorted(self.hashes, key=lambda f: f.frame)),
            frame_rate=self.rate,
            width=cc.width,
            height=cc.height,
            duration=self.duration,
            frame_count=total,
            seconds_per_hash=self.seconds_per_hash,
            container=self.fmt,
            codec=cc.name,
            truncated=self.truncated,
            frames_skipped=max(0, total - len(self.out)),
        )
