"""Hash algorithms we know and their text form: lowercase hex of a fixed length.

One place says which algorithms exist, how many bits each has and whether it is perceptual
(compared by Hamming distance) or exact (compared by equality).
"""

from __future__ import annotations

import string
from dataclasses import dataclass


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

_HEX = set(string.hexdigits)


class HashFormatError(ValueError):
    """A hash value or algorithm name we cannot accept."""


def normalize(algorithm: str, value: str) -> tuple[str, str]:
    """Return `(algorithm, hex)` lowercased and checked, or raise HashFormatError."""
    name = algorithm.strip().lower()
    algo = ALGORITHMS.get(name)
    if algo is None:
        raise HashFormatError(
            f"unknown hash algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})"
        )
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) != algo.hex_len or not set(text) <= _HEX:
        raise HashFormatError(
            f"{name} hash must be {algo.hex_len} hex digits, got {value.strip()[:80]!r}"
        )
    return name, text
