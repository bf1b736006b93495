"""PDQ-256 from a luma plane, following Meta's reference algorithm (facebook/ThreatExchange).

Steps: float luma -> two passes of the Jarosz box filter along rows and columns -> decimate to
64x64 -> quality score from the 64x64 gradients -> 16x16 DCT (frequencies 1..16) -> each bit
set where its coefficient exceeds the median. The box filters are linear and separable, so the
blur and the decimation together are one 64 x rows matrix on the left and one cols x 64 matrix
on the right; both are banded and built once per image dimension.

The 8 dihedral hashes (rotations and flips of the image) come from sign flips and transposes
of the same 16x16 DCT, in the reference's order: original, rotate 90, rotate 180, rotate 270,
flip x, flip y, flip +1 diagonal, flip -1 diagonal.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

LUMA_COEFFS = (0.299, 0.587, 0.114)
_OUT = 64
_PASSES = 2


def luma_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Float32 luma of an HxWx3 uint8 array, computed as the `pdqhash` package does."""
    r, g, b = LUMA_COEFFS
    return (rgb[:, :, 0] * r + rgb[:, :, 1] * g + rgb[:, :, 2] * b).astype(np.float32)


def jarosz_window(old: int, new: int = _OUT) -> int:
    """The reference's box window size for downscaling `old` samples to `new`."""
    return (old + 2 * new - 1) // (2 * new)


def _box_rows(n: int, w: int, rows: np.ndarray) -> np.ndarray:
    """Rows `rows` of the n x n box-filter matrix (the reference's box1DFloat), dense."""
    half = (w + 2) // 2
    out = np.zeros((len(rows), n), dtype=np.float64)
    for i, o in enumerate(rows):
        lo = max(0, o - (w - half))
        hi = min(n, o + half)  # exclusive
        out[i, lo:hi] = 1.0 / (hi - lo)
    return out


@lru_cache(maxsize=32)
def _sampling_matrix(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """64 x n matrix: two box passes then decimation; with each row's nonzero band [lo, hi)."""
    w = jarosz_window(n)
    samples = np.array([int(((i + 0.5) * n) / _OUT) for i in range(_OUT)])
    m = np.zeros((_OUT, n), dtype=np.float64)
    m[np.arange(_OUT), samples] = 1.0
    for _ in range(_PASSES):
        # m @ V: row r of the result is sum_k m[r, k] * V[k, :]
        support = np.flatnonzero(m.any(axis=0))
        v = _box_rows(n, w, support)
        m = m[:, support] @ v
    nz = m != 0
    lo = nz.argmax(axis=1)
    hi = n - nz[:, ::-1].argmax(axis=1)
    m32 = m.astype(np.float32)
    m32.setflags(write=False)
    return m32, lo, hi


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    i = np.arange(1, 17)[:, None]
    j = np.arange(64)[None, :]
    d = np.sqrt(2.0 / 64.0) * np.cos((np.pi / 2 / 64.0) * i * (2 * j + 1))
    return d.astype(np.float32)


def downsample64(luma: np.ndarray) -> np.ndarray:
    """The reference's 64x64 blurred and decimated buffer of a float32 luma plane.

    Only small banded matrix-vector products: a large matmul would hand the work to a
    multi-threaded BLAS, which stalls when the cores are shared."""
    rows, cols = luma.shape
    mr, rlo, rhi = _sampling_matrix(rows)
    mc, clo, chi = _sampling_matrix(cols)
    tmp = np.empty((_OUT, cols), dtype=np.float32)
    for i in range(_OUT):
        a, b = rlo[i], rhi[i]
        tmp[i] = mr[i, a:b] @ luma[a:b]
    tmp_t = np.ascontiguousarray(tmp.T)
    out = np.empty((_OUT, _OUT), dtype=np.float32)
    for j in range(_OUT):
        a, b = clo[j], chi[j]
        out[:, j] = mc[j, a:b] @ tmp_t[a:b]
    return out


def quality(buf64: np.ndarray) -> int:
    """The reference's image-domain quality metric (0..100) of the 64x64 buffer."""
    b = buf64.astype(np.float32)
    hundred, scale = np.float32(100), np.float32(255)
    dv = np.trunc(((b[:-1, :] - b[1:, :]) * hundred) / scale).astype(np.int64)
    dh = np.trunc(((b[:, :-1] - b[:, 1:]) * hundred) / scale).astype(np.int64)
    total = int(np.abs(dv).sum() + np.abs(dh).sum())
    return min(total // 90, 100)


def _bits_hex(coeffs: np.ndarray) -> str:
    flat = coeffs.reshape(256)
    median = np.partition(flat, 127)[127]  # Torben's median for n=256: the 128th smallest
    bits = (flat > median)[::-1]  # bit k is coefficient k; hex is printed from bit 255 down
    return np.packbits(bits).tobytes().hex()


_ODD = (np.arange(16) % 2 == 1)  # coefficient index i has frequency i + 1
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
    buf = downsample64(luma)
    q = quality(buf)
    d = _dct_matrix()
    coeffs = d @ buf @ d.T
    if not dihedral:
        return _bits_hex(coeffs), q, ()
    hexes = tuple(_bits_hex(c) for c in dihedral_coeffs(coeffs))
    return hexes[0], q, hexes
