"""The workings of hashes.video: decode with PyAV from memory, number frames, sample, hash.

Numbering follows the vPDQ reference: frames are counted in the decoder's output order from 0,
and frame n is sampled when n % mod == 0, mod = max(1, int(seconds_per_hash * frame_rate)).

Two passes share the loop. The fast pass decodes only what sampled frames need. A packet near
a sampled frame (its timestamp within `_MARGIN` frames of one) is decoded; one far from every
sampled frame is held back until the next packet near a sampled frame (then decoded with
`skip_frame = NONREF`: the decoder drops it when no other frame refers to it, B-frames mostly)
or the next key packet (then never decoded: nothing from the key on refers to it). Frames are
numbered by the rank of their timestamp among all packets' timestamps (every packet is still
demuxed, and a frame leaves the decoder only after every packet shown before it has gone in):
the reference's output count while every packet gives one frame. When a sampled frame goes
missing, a packet has no timestamp, a frame decoded on purpose never comes out, or a packet
shown before the key it follows (an open GOP) comes after dropped ones, the exact pass (every
frame decoded and counted, as the reference does) runs instead. Frame threads decode on every
available core.

Luma: by default straight from the 8-bit Y plane, scaled from video range (16..235) to 0..255
as the reference's RGB conversion implies (BT.601 coefficients, full range only for the yuvj
formats and full-range-tagged frames); `exact` converts to RGB24 as the reference does (FFmpeg's
swscale) and takes luma with PDQ's coefficients: bit-identical hashes, several times slower.
"""

from __future__ import annotations

import heapq
import io
import time
from fractions import Fraction

import av
import numpy as np

from hashes.pdq import luma_from_rgb, pdq_from_luma
from hashes.video_border import content_box
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

_MARGIN = 2  # frames on either side of a sampled frame that the fast pass always decodes
_HOLD = 300  # packets the fast pass holds back at most (compressed: a few MB)
_VIDEO_RANGE = np.float32(255.0 / 219.0)
_Y_PLANE = frozenset(
    {
        "yuv420p",
        "yuv422p",
        "yuv444p",
        "yuv440p",
        "yuv411p",
        "yuv410p",
        "yuva420p",
        "yuva422p",
        "yuva444p",
        "nv12",
        "nv21",
        "nv16",
        "nv24",
        "yuvj420p",
        "yuvj422p",
        "yuvj444p",
        "yuvj440p",
        "yuvj411p",
    }
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


class _Restart(Exception):
    """The fast pass cannot number frames as the reference would: run the exact pass."""


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
    """One decoding pass over the whole input (fast: skips frames nothing refers to)."""

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
        self.count = 0  # frames out of the decoder
        self.pending: list[int] = []  # packet timestamps not yet passed (fast pass)
        self.decoded_pts: set[int] = set()  # packets sent to be decoded whatever they are
        self.passed = 0
        self.packets = 0
        self.guard: int | None = None  # fast pass: the last key before which packets were dropped
        self.truncated = partial

    def _check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise VideoTimeBudget(f"not decoded within {self.limits.time_budget:g} s")

    def run(self) -> VideoSignature:
        remaining = max(0.1, self.deadline - time.monotonic())
        data = self.data
        if self.fmt == "mov":
            end = bmff_complete(data)
            if end < len(data):
                data, self.truncated = data[:end], True
        try:
            container = av.open(
                io.BytesIO(data),
                mode="r",
                format=self.fmt,
                options={"max_pixels": str(self.limits.max_pixels)},
                timeout=(remaining, remaining),
            )
        except _AV_ERRORS:
            self._check_time()
            if self.partial:
                raise VideoTruncated(f"no decodable {self.fmt} header in the prefix") from None
            raise VideoUndecodable(f"cannot open as {self.fmt}") from None
        try:
            return self._decode(container)
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
        cc.thread_type = "AUTO"
        cc.thread_count = self.limits.threads  # 0: FFmpeg's choice, from the usable cores
        cc.options = {"max_pixels": str(self.limits.max_pixels)}
        if self.mod <= 2 * _MARGIN + 1:
            self.fast = False  # every packet is near a sampled frame: nothing to skip
        return stream

    def _declared(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> float | None:
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration:
            return container.duration / 1_000_000
        return None

    def _decode(self, container: av.container.InputContainer) -> VideoSignature:
        stream = self._setup(container)
        cc = stream.codec_context
        held: list[av.Packet] = []  # fast pass: packets no sampled frame has needed yet
        try:
            for packet in container.demux(stream):
                self._check_time()
                if packet.size == 0:
                    continue  # the demuxer's final empty packet: flushed below
                if packet.is_corrupt:  # read short: the input ends inside this packet
                    self.truncated = True
                    break
                near = self._admit(packet)
                if not self.fast:
                    if not self._feed(cc, packet):
                        break
                    continue
                if packet.is_keyframe and held:  # nothing after the key refers to them
                    self.guard, held = packet.pts, []
                if near or packet.is_keyframe or len(held) >= _HOLD:
                    if not all(self._feed(cc, p) for p in [*held, packet]):
                        break
                    held = []
                else:
                    held.append(packet)
        except _AV_ERRORS:
            self.truncated = True  # the container ends or breaks here
        self._check_time()  # packets still held lead to no sampled frame: never decoded
        self._feed(cc, None)
        return self._finish(stream)

    def _admit(self, packet: av.Packet) -> bool:
        """Count and bound the packet; in the fast pass, number it and say whether it is near a
        sampled frame (then it is decoded whatever it is)."""
        self.packets += 1
        if self.packets > self.limits.max_frames:
            raise VideoTooLarge(f"more than {self.limits.max_frames} frames")
        pts = packet.pts
        if pts is not None:
            if self.start is None:
                self.start = pts
            seconds = float((pts - self.start) * self.tb)
            if seconds > self.limits.max_duration:
                raise VideoTooLarge(f"longer than {self.limits.max_duration:g} s")
        if not self.fast:
            return True
        if pts is None or (self.guard is not None and pts < self.guard):
            raise _Restart  # no timestamp, or a frame shown before the key it follows (open GOP)
        heapq.heappush(self.pending, pts)
        r = round(seconds * self.rate) % self.mod
        near = r <= _MARGIN or self.mod - r <= _MARGIN
        if near:
            self.decoded_pts.add(pts)
        return near

    def _feed(self, cc: av.video.codeccontext.VideoCodecContext, packet: av.Packet | None) -> bool:
        """Decode a packet (None: flush), number and hash its frames; False when the decoder
        failed (the input stops there). Far from a sampled frame, the fast pass lets the
        decoder drop a frame that no other frame refers to."""
        if self.fast and packet is not None:
            cc.skip_frame = "DEFAULT" if packet.pts in self.decoded_pts else "NONREF"
        try:
            for frame in cc.decode(packet):
                self._take(frame)
        except _AV_ERRORS:
            self.truncated = True
            return False
        return True

    def _take(self, frame: av.VideoFrame) -> None:
        if frame.width * frame.height > self.limits.max_pixels:
            raise VideoTooLarge(f"a {frame.width}x{frame.height} frame")
        if self.fast:
            n = self._rank(frame.pts)
        else:
            n = self.count
        self.count += 1
        if n % self.mod:
            return
        luma = frame_luma(frame, self.exact)
        pdq, quality, _ = pdq_from_luma(luma, dihedral=False)
        inner, inner_quality = None, 0
        box = content_box(luma) if self.borders else None
        if box is not None:
            t, b, lft, r = box
            inner, inner_quality, _ = pdq_from_luma(luma[t:b, lft:r], dihedral=False)
        stamp = float(np.float32(n) / np.float32(self.rate))
        self.hashes.append(FrameHash(pdq, quality, n, stamp, inner, inner_quality))

    def _rank(self, pts: int | None) -> int:
        """The output number of the frame shown at `pts`: the packets shown before it."""
        if pts is None:
            raise _Restart
        while self.pending and self.pending[0] < pts:
            if heapq.heappop(self.pending) in self.decoded_pts:
                raise _Restart  # a frame the decoder should have given is missing
            self.passed += 1
        if not self.pending or self.pending[0] != pts:
            raise _Restart
        heapq.heappop(self.pending)
        self.passed += 1
        return self.passed - 1

    def _finish(self, stream: av.video.stream.VideoStream) -> VideoSignature:
        total = self.passed + len(self.pending) if self.fast else self.count
        if self.fast:
            got = {f.frame for f in self.hashes}
            if any(n not in got for n in range(0, self.passed, self.mod)):
                raise _Restart  # a sampled frame was skipped: the estimate was off
            if any(p in self.decoded_pts for p in self.pending) and not self.truncated:
                raise _Restart  # frames the decoder never gave
        if not self.hashes and (self.truncated or total == 0):
            if self.partial:
                raise VideoTruncated("no frame decodes in the prefix")
            raise VideoUndecodable("no frame decodes")
        if self.fast and self.truncated:
            total = self.passed  # frames after the last one out are not counted
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
            frames_skipped=max(0, total - self.count),
        )
