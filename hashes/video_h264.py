"""Where an H.264 decoder can start afresh: a new decoder started at such a packet gives the
same pictures as one that decoded everything before (hashes.video_fast decodes the segments
between them in parallel).

A packet's access unit (`h264_access_unit`) says whether it holds an IDR picture (which clears
every reference), which parameter sets (SPS, PPS...) it carries in-band, and which x264 build
its SEI names (FFmpeg remembers it from the stream's first packet and works around old builds'
bugs by it, so a decoder started later must be told). `h264_fresh_starts` picks the packets
where a decoder can start: an IDR whose packet carries every parameter set sent in the stream
itself, if any, in a stream naming one x264 build at most.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_PARAMETER_SETS = frozenset({7, 8, 13, 15})  # SPS, PPS, SPS extension, subset SPS
_X264_BUILD = re.compile(rb"x264 - core (\d+)")  # what FFmpeg reads after the SEI's UUID


@dataclass(frozen=True)
class AccessUnit:
    """What one H.264 packet carries that decides whether decoding can start at it: an IDR
    picture, the parameter sets sent in-band (NAL units, bytes), the x264 build its SEI names."""

    idr: bool
    parameter_sets: frozenset[bytes]
    x264_build: int | None


def nal_length_size(extradata: bytes | None) -> int:
    """Bytes of each NAL unit's length prefix (avcC extradata, as in MP4 and Matroska), or 0
    for Annex B start codes (MPEG-TS, raw streams)."""
    if extradata and len(extradata) >= 7 and extradata[0] == 1:
        return (extradata[4] & 3) + 1
    return 0


def _nal_spans(data: bytes, length_size: int) -> list[tuple[int, int]] | None:
    """(start, end) of each NAL unit in a packet, or None when the framing does not parse."""
    if not length_size:
        at = data.find(b"\x00\x00\x01")
        if at < 0 or data[:at].strip(b"\x00"):
            return None  # Annex B packets begin with a start code
        starts = []
        while at >= 0:
            starts.append(at + 3)
            at = data.find(b"\x00\x00\x01", at + 3)
        ends = [s - 3 for s in starts[1:]] + [len(data)]
        return list(zip(starts, ends, strict=True))
    spans, at = [], 0
    while at + length_size <= len(data):
        size = int.from_bytes(data[at : at + length_size], "big")
        at += length_size
        if size == 0 or at + size > len(data):
            return None  # not the framing the extradata announces
        spans.append((at, at + size))
        at += size
    return spans if at == len(data) else None


def h264_access_unit(data: bytes, length_size: int) -> AccessUnit | None:
    """The AccessUnit of one H.264 packet, or None when its NAL framing does not parse."""
    spans = _nal_spans(data, length_size)
    if spans is None:
        return None
    slices, params, build = set(), set(), None
    for start, end in spans:
        kind = data[start] & 0x1F if start < end else 0
        if 1 <= kind <= 5:
            slices.add(kind)
        elif kind in _PARAMETER_SETS:
            params.add(data[start:end].rstrip(b"\x00"))  # Annex B: the next start code's zero
        elif kind == 6 and (named := _x264_build(data[start + 1 : end])) is not None:
            build = named
    return AccessUnit(slices == {5}, frozenset(params), build)  # an IDR picture, nothing else


def _x264_build(sei: bytes) -> int | None:
    """The x264 build that an SEI NAL unit's user data names, read as FFmpeg reads it: an
    unregistered user data message whose text after its 16-byte UUID starts with it."""
    rbsp, at = sei.replace(b"\x00\x00\x03", b"\x00\x00"), 0
    while at < len(rbsp) and rbsp[at] != 0x80:  # 0x80: the trailing bits
        fields = []
        for _ in range(2):  # payload type, then size: 0xFF bytes add 255
            value = 0
            while at < len(rbsp) and rbsp[at] == 0xFF:
                value, at = value + 255, at + 1
            if at >= len(rbsp):
                return None
            fields.append(value + rbsp[at])
            at += 1
        kind, size = fields
        if kind == 5 and (found := _X264_BUILD.match(rbsp, at + 16, at + size)):
            return int(found.group(1))
        at += size
    return None


def h264_fresh_starts(units: Sequence[AccessUnit | None]) -> tuple[frozenset[int], int]:
    """Packets (indexes, decode order) where a new H.264 decoder decodes every later picture
    exactly as one that decoded the stream from its first packet, and the x264 build that the
    new decoder must be told (FFmpeg's `x264_build` option; -1: none).

    A start is an IDR picture (it empties the reference buffer) whose packet carries every
    parameter set that any packet carries in-band (so that both decoders hold the same ones;
    none in-band: all come from the extradata). FFmpeg's decoder also keeps the x264 build
    number from the SEI of x264's first picture (old builds get bug workarounds): starts are
    given only when every x264 SEI names one build and the first packet carries it."""
    if not units or any(u is None for u in units):
        return frozenset(), -1
    known = [u for u in units if u is not None]
    builds = {u.x264_build for u in known if u.x264_build is not None}
    if len(builds) > 1 or (builds and known[0].x264_build is None):
        return frozenset(), -1
    build = builds.pop() if builds else -1
    if build == 0:
        return frozenset(), -1  # FFmpeg ignores a build 0: keep to what it certainly does
    in_band = frozenset().union(*(u.parameter_sets for u in known))
    starts = frozenset(i for i, u in enumerate(known) if u.idr and in_band <= u.parameter_sets)
    return starts, build
