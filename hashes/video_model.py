"""Video signatures' records, bounds and errors, and container sniffing (hashes.video is the API).

A signature (VideoSignature) holds the sampled frames' PDQ hashes (FrameHash) as Meta's vPDQ
reference computes them; VideoLimits bounds the work; VideoError's subclasses say why a video was
not hashed (too large is no evidence of removal); `sniff_container` names the container from its
first bytes, so that decoding never guesses a format.
"""

from __future__ import annotations

from collections.abc import Iterable
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
