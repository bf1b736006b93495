"""Benign generated videos for the simulated world: clips from a seed, their re-upload variants,
and the byte-range answers web servers give for them.

A video item's clip is `hashes.synthetic_video.clip(seed)`: 320x240, 15 fps, 8 to 16 seconds
(by seed), a scene cut every 3 to 5 seconds, H.264 in MP4 with its index first (faststart), as
hosters serve video. A re-upload is a variant of the original's bytes (decoded and re-encoded):
`bitrate` (a low bitrate), `resized` (0.5-0.75 of each side), `trimmed` (0.5-2 s off the start
and the end), `border` (a uniform frame 5-10 % wide). `different` is another clip (a hoster
serving other content at the URL), `corrupt` keeps the first KB and turns the rest to garbage.
`canary` appends a `free` box holding a byte string (decoders skip it), so a test can prove
served bytes were never persisted. A removed video's placeholder is the hoster's image
placeholder (monitor.sim.images.placeholder), as video hosts show a "removed" picture.

`byte_range(header, size)` reads one `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` the way RFC
9110 answers it (206 with the slice, 416 when it starts past the end, the whole body for what it
does not take: several ranges, other units, malformed values); `respond` builds the response,
or ignores the header altogether for a hoster that does not serve ranges.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import web

CONTENT_TYPE = "video/mp4"
TRANSFORMS = ("bitrate", "resized", "trimmed", "border")
SIZE = (320, 240)
FPS = 15
DIFFERENT = 0x5A5A5A  # the seed of the other clip a "different_image" video item serves


def seconds(seed: int) -> float:
    """The clip length of `seed`: 8 to 16 seconds."""
    return 8.0 + seed % 9


def render(seed: int, *, canary: bytes | None = None) -> bytes:
    """The clip for `seed`, encoded (MP4, faststart)."""
    from hashes.synthetic_video import clip  # PyAV loads only where videos are made

    cut = 3.0 + seed % 3
    return with_canary(clip(seed, SIZE, seconds(seed), FPS, cut), canary)


def variant_options(kind: str, seed: int) -> dict[str, Any]:
    """The options of `hashes.synthetic_video.variant` for re-upload transform `kind`."""
    rnd = random.Random(f"video-transform:{kind}:{seed}")
    if kind == "bitrate":
        return {"bitrate": rnd.choice((60_000, 90_000, 120_000)), "crf": None}
    if kind == "resized":
        return {"scale": round(rnd.uniform(0.5, 0.75), 3)}
    if kind == "trimmed":
        return {
            "trim_start": round(rnd.uniform(0.5, 2.0), 2),
            "trim_end": round(rnd.uniform(0.5, 2.0), 2),
        }
    if kind == "border":
        colour = rnd.choice(((0, 0, 0), (255, 255, 255), (24, 24, 24)))
        return {"border": round(rnd.uniform(0.05, 0.1), 3), "border_colour": colour}
    raise ValueError(f"unknown video transform {kind!r} (known: {', '.join(TRANSFORMS)})")


def render_transformed(
    original: bytes, kind: str, seed: int, *, canary: bytes | None = None
) -> bytes:
    """A re-upload of `original` (a clip's bytes) after transform `kind`, encoded."""
    from hashes.synthetic_video import variant

    return with_canary(variant(original, **variant_options(kind, seed)), canary)


def corrupt(data: bytes, seed: int) -> bytes:
    """`data` with everything after its first KB turned to garbage: no frame decodes."""
    keep = min(1024, len(data) // 4)
    return data[:keep] + random.Random(f"corrupt-video:{seed}").randbytes(len(data) - keep)


def with_canary(data: bytes, canary: bytes | None) -> bytes:
    """`data` with a trailing ISO-BMFF `free` box holding `canary` (no offsets move)."""
    if not canary:
        return data
    return data + struct.pack(">I", 8 + len(canary)) + b"free" + canary


@dataclass(frozen=True)
class Slice:
    """What to answer for a Range header: 200 (whole), 206 [start, end) or 416."""

    status: int
    start: int = 0
    end: int = 0  # exclusive


def byte_range(header: str | None, size: int) -> Slice:
    """The answer to `Range: header` for a body of `size` bytes (one range only)."""
    whole = Slice(200, 0, size)
    unit, eq, spec = (header or "").partition("=")
    if not eq or unit.strip().lower() != "bytes" or "," in spec:
        return whole  # no range, another unit, or several ranges: the whole body (allowed)
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return whole
    if first == "":
        if last == "":
            return whole
        n = int(last)  # the last n bytes
        if n == 0 or size == 0:
            return Slice(416)
        return Slice(206, max(0, size - n), size)
    start = int(first)
    if last and int(last) < start:
        return whole  # an invalid range is ignored
    if start >= size:
        return Slice(416)
    end = size if last == "" else min(size, int(last) + 1)
    return Slice(206, start, end)


def respond(
    body: bytes, range_header: str | None, *, ranges: bool, content_type: str = CONTENT_TYPE
) -> web.Response:
    """The response for a video body: a hoster that serves ranges says `Accept-Ranges: bytes`
    and answers a Range header (206 + Content-Range, 416 + `bytes */size`); one that does not
    always sends the whole body with 200."""
    if not ranges:
        return web.Response(body=body, content_type=content_type)
    head = {"Accept-Ranges": "bytes"}
    part = byte_range(range_header, len(body))
    if part.status == 416:
        head["Content-Range"] = f"bytes */{len(body)}"
        return web.Response(status=416, headers=head)
    if part.status == 206:
        head["Content-Range"] = f"bytes {part.start}-{part.end - 1}/{len(body)}"
        return web.Response(
            status=206, body=body[part.start : part.end], content_type=content_type, headers=head
        )
    return web.Response(body=body, content_type=content_type, headers=head)
