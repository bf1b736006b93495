"""The text form of a vPDQ signature: how one is imported, stored and exchanged.

Stored form (`to_text`): the reference's hash-file lines `frame,quality,hex,timestamp` (as
Meta's vpdq CLI writes them), joined by ";" so that one signature is one line of text (a CSV
cell, one database value), frames in frame-number order, timestamps with 3 decimals.

`parse` reads what hotlines and hash-sharing programmes hand over, whatever the source:
- that stored form, or the reference's hash file itself (the same lines, one per line);
- python-threatexchange's VPDQ signal string: a JSON object keyed by frame number,
  `{"0": {"quality": 100, "hash": "<64 hex>", "timestamp": 0.0}, ...}`;
- a JSON list of such objects, each with its `frame_number` (also `pdq_hex` for `hash`).

Every value is checked: 64 hex digits, quality an integer 0..100, frame a non-negative integer,
timestamp finite and within MAX_SECONDS (rounded to milliseconds), all in ASCII digits only (no
signs, underscores, other scripts' digits, NaN or Infinity); only spaces, tabs and line ends may
surround a value (any other control character is refused); no frame number twice, at most
MAX_FRAMES frames, at least one. Errors are VideoHashTextError (a
ValueError) naming what is wrong, never quoting more than a few characters of the input.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence

from hashes.video_model import FrameHash, VideoSignature

__all__ = ["MAX_FRAMES", "MAX_SECONDS", "MAX_TEXT", "VideoHashTextError", "parse", "to_text"]

MAX_FRAMES = 100_000  # frames of one signature (a day of video at one hash a second)
MAX_SECONDS = 86_400.0 * 2  # timestamps beyond two days are no video we hash
MAX_TEXT = 16 * 1024 * 1024  # characters of one signature's text
_HEX64 = re.compile(r"[0-9a-fA-F]{64}\Z")
_UINT = re.compile(r"[0-9]{1,9}\Z")
# seconds: ASCII digits, an optional fraction of any usual float precision (repr of a float such
# as 0.9666666666666667, as older python-threatexchange writes it) and an optional exponent
# (repr of a small float, 1e-05); no sign, underscore or other digits (float() takes those)
_NUMBER = re.compile(r"[0-9]{1,12}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?\Z")
_BLANK = " \t\r\n"  # what may surround a value or a line; other control characters are refused


class VideoHashTextError(ValueError):
    """A vPDQ signature text that cannot be accepted (the message names why)."""


def to_text(frames: VideoSignature | Sequence[FrameHash]) -> str:
    """The stored form of a signature's frames (frame order, ";"-joined reference lines)."""
    items = frames.frames if isinstance(frames, VideoSignature) else frames
    return ";".join(f.line() for f in sorted(items, key=lambda f: f.frame))


def parse(text: str) -> tuple[FrameHash, ...]:
    """The frames of a signature text in any accepted form (module docstring), frame order."""
    if not isinstance(text, str):
        raise VideoHashTextError("a vpdq signature must be text")
    if len(text) > MAX_TEXT:
        raise VideoHashTextError(f"vpdq signature longer than {MAX_TEXT} characters")
    body = text.strip(_BLANK)
    if not body:
        raise VideoHashTextError("empty vpdq signature")
    if body[0] in "{[":
        frames = _from_json(body)
    else:
        frames = _from_lines(re.split(r"[;\n]", body))
    return _checked(frames)


def _from_lines(lines: Iterable[str]) -> list[FrameHash]:
    out = []
    for no, raw in enumerate(lines, 1):
        line = raw.strip(_BLANK)
        if not line:
            continue
        parts = [p.strip(_BLANK) for p in line.split(",")]
        if len(parts) != 4:
            raise VideoHashTextError(f"frame {no}: not frame,quality,hex,timestamp")
        frame, quality, pdq, stamp = parts
        out.append(_frame(no, frame, quality, pdq, stamp))
    return out


def _from_json(body: str) -> list[FrameHash]:
    try:
        data = json.loads(body, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except VideoHashTextError:
        raise
    except (ValueError, RecursionError):
        raise VideoHashTextError("vpdq signature is not valid JSON") from None
    if isinstance(data, dict):
        entries = list(data.items())
    elif isinstance(data, list):
        entries = [(e.get("frame_number") if isinstance(e, dict) else None, e) for e in data]
    else:
        raise VideoHashTextError("vpdq JSON must be an object keyed by frame number, or a list")
    out = []
    for no, (frame, entry) in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise VideoHashTextError(f"frame {no}: not an object")
        pdq = entry.get("hash", entry.get("pdq_hex"))
        quality, stamp = _plain(entry.get("quality")), _plain(entry.get("timestamp"))
        out.append(_frame(no, _plain(frame), quality, pdq, stamp))
    return out


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object, refused when it names a key twice (json.loads would keep the last)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise VideoHashTextError("vpdq JSON names a frame number or a field twice")
    return out


def _no_constant(name: str) -> float:
    raise ValueError(name)  # NaN, Infinity: refused


def _plain(value: object) -> str:
    """A JSON scalar as the text it would be in a hash-file line (bool is no number)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return value if isinstance(value, str) else ""


def _frame(no: int, frame: object, quality: object, pdq: object, stamp: object) -> FrameHash:
    if not isinstance(frame, str) or not _UINT.match(frame):
        raise VideoHashTextError(f"frame {no}: frame number must be a non-negative integer")
    if not isinstance(quality, str) or not _UINT.match(quality) or int(quality) > 100:
        raise VideoHashTextError(f"frame {no}: quality must be an integer 0..100")
    if not isinstance(pdq, str) or not _HEX64.match(pdq):
        raise VideoHashTextError(f"frame {no}: hash must be 64 hex digits")
    seconds = _seconds(stamp)
    if seconds is None:
        raise VideoHashTextError(
            f"frame {no}: timestamp must be a number of seconds 0..{MAX_SECONDS:.0f}"
        )
    return FrameHash(pdq.lower(), int(quality), int(frame), seconds)


def _seconds(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    if not _NUMBER.match(stamp):
        return None
    value = float(stamp)
    return round(value, 3) if math.isfinite(value) and 0 <= value <= MAX_SECONDS else None


def _checked(frames: list[FrameHash]) -> tuple[FrameHash, ...]:
    if not frames:
        raise VideoHashTextError("vpdq signature holds no frame")
    if len(frames) > MAX_FRAMES:
        raise VideoHashTextError(f"vpdq signature holds more than {MAX_FRAMES} frames")
    numbers = [f.frame for f in frames]
    if len(set(numbers)) != len(numbers):
        raise VideoHashTextError("vpdq signature names a frame number twice")
    return tuple(sorted(frames, key=lambda f: f.frame))
