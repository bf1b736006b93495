"""Hash algorithms we know and their text form: lowercase hex of a fixed length, or a video
signature's text.

One place says which algorithms exist, how many bits each has and whether it is perceptual
(compared by Hamming distance) or exact (compared by equality). `ALGORITHMS` are the
fixed-width hex image and digest hashes (the image Matcher and the packed loaders read only
these); `VIDEO_ALGORITHMS` are video signatures of variable length: `vpdq` (Meta's vPDQ, a
set of per-frame PDQ hashes, perceptual), stored as `hashes.video_text.to_text` and read by
`hashes.video_text.parse`. `normalize` accepts both kinds.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from hashes.video_text import VideoHashTextError, parse, to_text


@dataclass(frozen=True)
class Algorithm:
    name: str
    bits: int
    perceptual: bool

    @property
    def hex_len(self) -> int:
        return self.bits // 4


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("phash", 64, True),
        Algorithm("dhash", 64, True),
        Algorithm("pdq", 256, True),
        Algorithm("md5", 128, False),
        Algorithm("sha1", 160, False),
        Algorithm("sha256", 256, False),
    )
}

VIDEO_ALGORITHMS = ("vpdq",)  # perceptual video signatures (hashes.video_text), not hex

_HEX = set(string.hexdigits)


class HashFormatError(ValueError):
    """A hash value or algorithm name we cannot accept."""


def normalize(algorithm: str, value: str) -> tuple[str, str]:
    """Return `(algorithm, hex)` lowercased and checked, or raise HashFormatError. For a video
    algorithm (`vpdq`) the value is any form hashes.video_text.parse reads and the text
    returned is its canonical stored form (`to_text`)."""
    name = algorithm.strip().lower()
    if name in VIDEO_ALGORITHMS:
        try:
            return name, to_text(parse(value))
        except VideoHashTextError as exc:
            raise HashFormatError(str(exc)) from None
    algo = ALGORITHMS.get(name)
    if algo is None:
        known = ", ".join((*ALGORITHMS, *VIDEO_ALGORITHMS))
        raise HashFormatError(f"unknown hash algorithm {algorithm[:40]!r} (known: {known})")
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) != algo.hex_len or not set(text) <= _HEX:
        raise HashFormatError(
            f"{name} hash must be {algo.hex_len} hex digits, got {value.strip()[:80]!r}"
        )
    return name, text
