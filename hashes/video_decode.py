"""The workings of hashes.video: decode with PyAV from memory, number frames, sample, hash.

Numbering follows the vPDQ reference: frames are counted in the decoder's output order from 0,
and frame n is sampled when n % mod == 0, mod = max(1, int(seconds_per_hash * frame_rate)).

Two passes: the fast one (hashes.video_fast: frames numbered by their timestamps, only what
sampled frames need decoded, H.264 segments on every core) and, when the fast pass cannot be
sure of the reference's numbering, the exact one: every frame decoded and counted as it comes
out, as the reference does. Luma: hashes.video_luma. Bounds: VideoLimits (hashes.video_model),
checked as packets are read and frames come out.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from hashes.pdq import pdq_from_luma
from hashes.video_border import content_box
from hashes.video_fast import AV_ERRORS, FastPass, Restart
from hashes.video_luma import frame_luma
from hashes.video_model import (
    FrameHash,
    VideoLimits,
    VideoSignature,
    VideoTimeBudget,
    VideoTooLarge,
    VideoTruncated,
    VideoUndecodable,
    bmff_complete,
)

__all__ = ["decode_signature", "frame_luma"]


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
    except Restart:
        return _Pass(*args, fast=False).run()


class _Pass(FastPass):
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
        except AV_ERRORS:
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
        except AV_ERRORS:
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
        except AV_ERRORS:
            self.truncated = True
            return False
        return True

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
                raise Restart  # not where the reference's count puts it
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
                raise Restart  # a sampled frame missing (or twice): numbering was off
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
