"""Video signatures' records, bounds and errors, and container sniffing (hashes.video is the API).

A signature (VideoSignature) holds the sampled frames' PDQ hashes (FrameHash) as Meta's vPDQ
reference computes them; VideoLimits bounds the work; VideoError's subclasses say why a video was
not hashed (too large is no evidence of removal); `sniff_container` names the container from its
first bytes, so that decoding never guesses a format; `h264_fresh_starts` says where in an
H.264 stream a new decoder gives the same pictures as one that decoded everything before
(hashes.video_decode decodes such segments in parallel).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SECONDS_PER_HASH = 1.0  # the reference's default sampling: one frame a second


class VideoError(Exception):
    """A video could not be hashed; `kind` is one of ERROR_KINDS. Messages never quote input."""

    kind = "video_error"


class VideoUndecodable(VideoError):
    """Not decodable: no container we read, no video stream, or a decoder failure."""

    kind = "undecodable"


class NotVideo(VideoUndecodable):
    """The bytes do not start like any video container we read."""

    kind = "not_video"


class VideoTruncated(VideoUndecodable):
    """A prefix (partial=True) that holds no decodable frame yet: fetch more or all of it."""

    kind = "truncated"


class VideoTooLarge(VideoError):
    """Beyond a bound (duration, frames, pixels): too costly, which is no evidence of removal."""

    kind = "too_large"


class VideoTimeBudget(VideoTooLarge):
    """Decoding did not finish within the wall-time budget."""

    kind = "time_budget"


ERROR_KINDS = ("not_video", "undecodable", "truncated", "too_large", "time_budget")


@dataclass(frozen=True)
class VideoLimits:
    """Bounds on the work spent on one video."""

    max_duration: float = 1800.0  # seconds, declared by the container or reached while decoding
    max_frames: int = 108_000  # frames decoded (all of them, not only the sampled ones)
    max_pixels: int = 3840 * 2160  # per frame
    time_budget: float = 120.0  # wall seconds for the whole signature
    threads: int = 0  # decoding threads (segments at once, or frame threads); 0: one a core


@dataclass(frozen=True)
class FrameHash:
    """One sampled frame: its PDQ (64 hex digits), quality 0..100, number and time in seconds;
    when the frame has a uniform border (hashes.video_border), also the PDQ and quality of the
    picture inside it (an extension: the reference's files carry only the whole frame's)."""

    pdq: str
    quality: int
    frame: int
    timestamp: float
    inner_pdq: str | None = None
    inner_quality: int = 0

    def line(self) -> str:
        """The reference's text line: `frame,quality,hex,timestamp`."""
        return f"{self.frame},{self.quality},{self.pdq},{self.timestamp:.3f}"


@dataclass(frozen=True)
class VideoSignature:
    """The vPDQ signature of one video, with what the decoder saw."""

    frames: tuple[FrameHash, ...]
    frame_rate: float
    width: int
    height: int
    duration: float | None  # declared, in seconds (None when the container does not say)
    frame_count: int  # frames in the video as the reference counts them (up to a cut)
    seconds_per_hash: float
    container: str  # the demuxer used (see sniff_container)
    codec: str
    truncated: bool = False  # a prefix or a cut-short file: the frames before the cut
    frames_skipped: int = 0  # of frame_count, those never decoded (no sampled frame needs them)

    def hexes(self) -> tuple[str, ...]:
        return tuple(f.pdq for f in self.frames)

    def to_text(self) -> str:
        """The reference's hash file: one `frame,quality,hex,timestamp` line per frame."""
        return "".join(f.line() + "\n" for f in self.frames)


def frames_from_text(text: str | Iterable[str]) -> tuple[FrameHash, ...]:
    """Frame hashes from the reference's text lines (`frame,quality,hex,timestamp`).

    Raises ValueError for a malformed line (quoting only its number)."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    out = []
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            frame, quality, pdq, stamp = raw.strip().split(",")
            int(pdq, 16)
            item = FrameHash(pdq.lower(), int(quality), int(frame), float(stamp))
        except ValueError:
            raise ValueError(f"line {no}: not frame,quality,hex,timestamp") from None
        if len(pdq) != 64 or not 0 <= item.quality <= 100 or item.frame < 0:
            raise ValueError(f"line {no}: hash, quality or frame number out of range")
        out.append(item)
    return tuple(out)


# -- what the bytes are --------------------------------------------------------------------------

_BMFF_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp")
_IMAGE_BRANDS = (
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
    b"jpeg",
)  # HEIF/AVIF still images and image sequences


def sniff_container(data: bytes) -> str | None:
    """The FFmpeg demuxer for `data` from its first bytes, or None when it is no video container
    we read: ISO-BMFF (MP4, MOV, 3GP), Matroska/WebM, AVI, MPEG-TS (and M2TS), MPEG-PS, FLV,
    ASF/WMV, Ogg. Only these demuxers are ever used: no probing, so no playlist or concat
    demuxer that would open other files or URLs."""
    head = bytes(data[:16])
    if len(head) >= 12 and head[4:8] in _BMFF_BOXES:
        if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
            return None
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if _sync(data, 0, 188) or _sync(data, 4, 192):
        return "mpegts"
    return None


def _sync(data: bytes, first: int, step: int) -> bool:
    """MPEG-TS: the sync byte 0x47 at `first` and every `step` bytes (up to 4 packets)."""
    spots = [first + i * step for i in range(4) if first + i * step < len(data)]
    return len(spots) >= 2 and all(data[p] == 0x47 for p in spots)


def bmff_complete(data: bytes) -> int:
    """ISO-BMFF: the length of `data` without a cut-off top-level box at its end, unless that
    box is the media (mdat), which decodes as far as it goes. A cut inside a fragment's index
    (moof) otherwise makes the whole file unreadable."""
    at, n = 0, len(data)
    while at + 8 <= n:
        size = int.from_bytes(data[at : at + 4], "big")
        header = 8
        if size == 1:
            if at + 16 > n:
                return at
            size, header = int.from_bytes(data[at + 8 : at + 16], "big"), 16
        elif size == 0:
            return n  # the last box runs to the end of the file
        if size < header:
            return n  # not a box structure we understand: leave it to the demuxer
        if at + size > n:
            return n if data[at + 4 : at + 8] == b"mdat" else at
        at += size
    return at


def looks_like_video(data: bytes) -> bool:
    """Whether `data` starts like a video container (see sniff_container)."""
    return sniff_container(data) is not None


# -- where an H.264 decoder can start afresh ---------------------------------------------------

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
