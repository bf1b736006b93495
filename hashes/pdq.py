"""PDQ-256 from a luma plane, following Meta's reference algorithm (facebook/ThreatExchange).

Steps: float luma -> two passes of the Jarosz box filter along rows and columns -> decimate to
64x64 -> quality score from the 64x64 gradients -> 16x16 DCT (frequencies 1..16) -> each bit
set where its coefficient exceeds the median. The box filters are linear and separable, so the
blur and the decimation together are one 64 x rows matrix on the left and one cols x 64 matrix
on the right; both are banded, built from prefix sums in O(64 x band) per new image dimension
(float32 entries identical to multiplying out the box matrices) and cached per dimension.

The 8 dihedral hashes (rotations and flips of the image) come from sign flips and transposes
of the same 16x16 DCT, in the reference's order: original, rotate 90, rotate 180, rotate 270,
flip x, flip y, flip +1 diagonal, flip -1 diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LUMA_COEFFS = (0.299, 0.587, 0.114)
_OUT = 64
MIN_HASHABLE_DIM = 5  # the reference hashes nothing smaller on either side
_BLOCK = 8  # output columns per dense product in the column pass


def luma_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Float32 luma of an HxWx3 uint8 array, computed as the `pdqhash` package does."""
    r, g, b = LUMA_COEFFS
    return (rgb[:, :, 0] * r + rgb[:, :, 1] * g + rgb[:, :, 2] * b).astype(np.float32)


def jarosz_window(old: int, new: int = _OUT) -> int:
    """The reference's box window size for downscaling `old` samples to `new`."""
    return (old + 2 * new - 1) // (2 * new)


def _box_bounds(n: int, w: int, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window [lo, hi) that the reference's box1DFloat averages for output positions `at`."""
    half = (w + 2) // 2
    return np.maximum(0, at - (w - half)), np.minimum(n, at + half)


@dataclass(frozen=True)
class _Plan:
    """How one axis of length n becomes 64 samples: both box passes and the decimation.

    Sample i is `weights[i] @ x[starts[i]:starts[i] + width]`; `blocks` holds the same map as
    dense (band x 8) matrices for 8 samples at a time (one small product each)."""

    starts: tuple[int, ...]
    weights: np.ndarray
    blocks: tuple[tuple[int, int, int, np.ndarray], ...]

    @property
    def width(self) -> int:
        return self.weights.shape[1]


@lru_cache(maxsize=64)
def _plan(n: int) -> _Plan:
    """The banded sampling map of an axis of length n, built in O(64 x band) per new size.

    Row i of the map is (1/c_i) sum over k in sample i's first window of (box row k)/c_k;
    box windows move monotonically, so the positions k that cover j form a range and the sum
    is a difference of prefix sums of 1/c_k."""
    w = jarosz_window(n)
    samples = ((np.arange(_OUT) + 0.5) * n / _OUT).astype(np.int64)  # the reference's decimation
    lo1, hi1 = _box_bounds(n, w, samples)
    lo2, hi2 = _box_bounds(n, w, np.arange(n))
    prefix = np.concatenate(([0.0], np.cumsum(1.0 / (hi2 - lo2))))
    first, last = lo2[lo1], hi2[hi1 - 1]
    width = int((last - first).max())
    starts = np.minimum(first, n - width)
    j = starts[:, None] + np.arange(width)[None, :]
    k_lo = np.maximum(np.searchsorted(hi2, j, side="right"), lo1[:, None])
    k_hi = np.maximum(np.minimum(np.searchsorted(lo2, j, side="right"), hi1[:, None]), k_lo)
    weights = ((prefix[k_hi] - prefix[k_lo]) / (hi1 - lo1)[:, None]).astype(np.float32)
    blocks = []
    for j0 in range(0, _OUT, _BLOCK):
        a, b = int(starts[j0]), int(starts[j0 + _BLOCK - 1]) + width
        dense = np.zeros((b - a, _BLOCK), dtype=np.float32)
        at = starts[j0 : j0 + _BLOCK, None] - a + np.arange(width)[None, :]
        dense[at, np.arange(_BLOCK)[:, None]] = weights[j0 : j0 + _BLOCK]
        dense.setflags(write=False)
        blocks.append((j0, a, b, dense))
    weights.setflags(write=False)
    return _Plan(tuple(int(s) for s in starts), weights, tuple(blocks))


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    i = np.arange(1, 17)[:, None]
    j = np.arange(64)[None, :]
    d = np.sqrt(2.0 / 64.0) * np.cos((np.pi / 2 / 64.0) * i * (2 * j + 1))
    return d.astype(np.float32)


def downsample64(luma: np.ndarray) -> np.ndarray:
    """The reference's 64x64 blurred and decimated buffer of a float32 luma plane.

    Only small banded products: one (band,) @ (band, cols) per output row, then one
    (64, band) @ (band, 8) per 8 output columns. Dense 64 x rows and cols x 64 products would
    do some 50x the arithmetic and hand it to a multi-threaded BLAS, which stalls when the
    cores are shared."""
    rows, cols = luma.shape
    rp, cp = _plan(rows), _plan(cols)
    tmp = np.empty((_OUT, cols), dtype=np.float32)
    width = rp.width
    for i, s in enumerate(rp.starts):
        np.dot(rp.weights[i], luma[s : s + width], out=tmp[i])
    out = np.empty((_OUT, _OUT), dtype=np.float32)
    for j0, a, b, dense in cp.blocks:
        out[:, j0 : j0 + _BLOCK] = tmp[:, a:b] @ dense
    return out


def quality(buf64: np.ndarray) -> int:
    """The reference's image-domain quality metric (0..100) of the 64x64 buffer."""
    b = buf64.astype(np.float32)
    hundred, scale = np.float32(100), np.float32(255)
    dv = np.trunc(((b[:-1, :] - b[1:, :]) * hundred) / scale).astype(np.int64)
    dh = np.trunc(((b[:, :-1] - b[:, 1:]) * hundred) / scale).astype(np.int64)
    total = int(np.abs(dv).sum() + np.abs(dh).sum())
    return min(total // 90, 100)


def _bits_hex(coeffs: np.ndarray) -> tuple[str, ...]:
    """Hex hashes of a stack of 16x16 DCTs: bit k set where coefficient k exceeds the median."""
    flat = coeffs.reshape(-1, 256)
    median = np.partition(flat, 127, axis=1)[:, 127:128]  # Torben's median for n=256: 128th
    bits = (flat > median)[:, ::-1]  # bit k is coefficient k; hex is printed from bit 255 down
    packed = np.packbits(bits, axis=1)
    return tuple(row.tobytes().hex() for row in packed)


_ODD = np.arange(16) % 2 == 1  # coefficient index i has frequency i + 1
_FLIP = np.where(_ODD, 1.0, -1.0)  # sign change of frequency i + 1 when its axis is mirrored


def dihedral_coeffs(b: np.ndarray) -> list[np.ndarray]:
    """The 16x16 DCTs of the 8 dihedral variants, in the reference's order."""
    row_flip = b * _FLIP[:, None]
    col_flip = b * _FLIP[None, :]
    both = row_flip * _FLIP[None, :]
    return [
        b,
        col_flip.T,  # rotate 90
        both,  # rotate 180
        row_flip.T,  # rotate 270
        row_flip,  # flip x
        col_flip,  # flip y
        b.T,  # flip +1 (transpose)
        both.T,  # flip -1 (anti-transpose)
    ]


def pdq_from_luma(luma: np.ndarray, *, dihedral: bool = True) -> tuple[str, int, tuple[str, ...]]:
    """Return (pdq hex, quality, the 8 dihedral hexes or ()) of a float32 luma plane."""
    luma = np.ascontiguousarray(luma, dtype=np.float32)
    if min(luma.shape) < MIN_HASHABLE_DIM:  # the reference's rule: all-zero hash, quality 0
        zero = "0" * 64
        return zero, 0, ((zero,) * 8 if dihedral else ())
    buf = downsample64(luma)
    q = quality(buf)
    d = _dct_matrix()
    coeffs = d @ buf @ d.T
    if not dihedral:
        return _bits_hex(coeffs)[0], q, ()
    hexes = _bits_hex(np.stack(dihedral_coeffs(coeffs)))
    return hexes[0], q, hexes
