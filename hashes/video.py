"""Video signatures from bytes in memory: vPDQ, the PDQ hashes of frames sampled at a fixed rate.

A signature is what Meta's vPDQ reference (facebook/ThreatExchange vpdq) computes for a video:
every decoded frame is numbered from 0 in output order, frame n is hashed when
`n % int(seconds_per_hash * frame_rate) == 0` (every frame when that product is below 1; the
frame rate is the stream's average rate, else its real base rate), its timestamp is
`n / frame_rate`, and its hash is PDQ-256 with quality of the full-resolution frame's luma
(hashes.pdq). Decoding and sampling live in hashes.video_decode, the records, bounds, errors
and container sniffing in hashes.video_model; this module is the API (it re-exports those names).

Bounds (VideoLimits): declared or decoded duration, decoded frames, pixels per frame and a
wall-time budget; each raises a VideoTooLarge (too costly to look at, which is no evidence of
removal). Bytes that are no video, or that cannot be opened or decoded, raise VideoUndecodable.
A prefix of a file (an HTTP range request, a download cut short) is hashed as far as it decodes
and gives `truncated=True`; a prefix holding no decodable frame yet (an MP4 whose index comes
after its media) raises VideoTruncated. Nothing is written anywhere; error messages never quote
the input. `compute_video` is the never-raising form, with exact digests, like hashes.compute.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hashes.video_decode import decode_signature
from hashes.video_model import (
    ERROR_KINDS,
    SECONDS_PER_HASH,
    FrameHash,
    NotVideo,
    VideoError,
    VideoLimits,
    VideoSignature,
    VideoTimeBudget,
    VideoTooLarge,
    VideoTruncated,
    VideoUndecodable,
    bmff_complete,
    frames_from_text,
    looks_like_video,
    sniff_container,
)

__all__ = [
    "ERROR_KINDS",
    "SECONDS_PER_HASH",
    "FrameHash",
    "NotVideo",
    "VideoError",
    "VideoHashes",
    "VideoLimits",
    "VideoSignature",
    "VideoTimeBudget",
    "VideoTooLarge",
    "VideoTruncated",
    "VideoUndecodable",
    "bmff_complete",
    "compute_video",
    "frames_from_text",
    "looks_like_video",
    "sniff_container",
    "video_signature",
]


# -- entry points --------------------------------------------------------------------------------


def video_signature(
    data: bytes,
    *,
    limits: VideoLimits | None = None,
    seconds_per_hash: float = SECONDS_PER_HASH,
    partial: bool = False,
    exact: bool = False,
    borders: bool = True,
) -> VideoSignature:
    """The vPDQ signature of the video in `data` (bytes in memory; nothing is written).

    `partial`: `data` is a prefix of the file; what decodes is hashed and the signature says
    `truncated=True`. `exact`: frames go through RGB exactly as the reference converts them
    (bit-identical hashes, slower); by default luma comes straight from the decoded Y plane
    (the same luma up to rounding and clipping: hashes within a few bits). `borders`: also hash
    the picture inside a uniform frame border (FrameHash.inner_pdq). Raises a VideoError."""
    if seconds_per_hash < 0:
        raise ValueError("seconds_per_hash must be >= 0")
    fmt = sniff_container(data)
    if fmt is None:
        raise NotVideo("no video container signature")
    return decode_signature(
        data,
        fmt,
        limits or VideoLimits(),
        seconds_per_hash,
        partial=partial,
        exact=exact,
        borders=borders,
    )


@dataclass(frozen=True)
class VideoHashes:
    """What `compute_video` found: a signature, or `ok=False` with an error; always digests."""

    ok: bool
    error: str | None
    signature: VideoSignature | None
    sha256: str
    sha1: str
    md5: str

    @property
    def error_kind(self) -> str | None:
        """One of ERROR_KINDS, None when hashed."""
        return None if self.error is None else self.error.split(":", 1)[0]


def compute_video(
    data: bytes,
    *,
    limits: VideoLimits | None = None,
    seconds_per_hash: float = SECONDS_PER_HASH,
    partial: bool = False,
) -> VideoHashes:
    """`video_signature` that never raises for bad input: `ok=False` and `error` =
    "<kind>: <detail>" (kind from ERROR_KINDS); exact digests always."""
    view = bytes(data)
    digests = (
        hashlib.sha256(view).hexdigest(),
        hashlib.sha1(view).hexdigest(),
        hashlib.md5(view).hexdigest(),
    )
    try:
        sig = video_signature(
            view, limits=limits, seconds_per_hash=seconds_per_hash, partial=partial
        )
    except VideoError as exc:
        return VideoHashes(False, f"{exc.kind}: {exc}", None, *digests)
    except MemoryError:
        return VideoHashes(False, "too_large: out of memory while decoding", None, *digests)
    return VideoHashes(True, None, sig, *digests)
