"""pHash-64 and dHash-64 exactly as `imagehash` computes them, without its per-call overhead.

imagehash's pHash: greyscale, LANCZOS resize to 32x32, scipy's unnormalised DCT-II along both
axes, the top-left 8x8 coefficients, each bit set where its coefficient exceeds their median.
Here the same 8x8 block is one product with a precomputed 8x32 DCT matrix (float64). The two
sums differ only by rounding (far below 1e-6 for 8-bit pixels), which can flip a bit only when
a coefficient lies within rounding of the median; then (flat or symmetric images, ties) we call
imagehash itself, so the hex string is always the one imagehash gives for the same image.
The mirror image's block is the same block with odd columns negated (exact), so the mirror
pHash costs no second resize. dHash is imagehash's own arithmetic (LANCZOS 9x8, left < right).
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

_LANCZOS = Image.Resampling.LANCZOS
_N = 32  # pHash input side (hash_size 8 x highfreq_factor 4)
_K = 8  # bits per side
_TIE = 1e-3  # closer than this to the median: the float order is not trustworthy, defer


def _dct_rows() -> np.ndarray:
    """Rows 0..7 of scipy.fftpack's DCT-II (norm=None): y[k] = 2 sum x[n] cos(pi k (2n+1) / 2N)."""
    k = np.arange(_K)[:, None]
    n = np.arange(_N)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * _N))


_C = _dct_rows()
_CT = np.ascontiguousarray(_C.T)


_FLIP = np.where(np.arange(_K) % 2 == 1, -1.0, 1.0)  # DCT of a left-right mirror: odd columns


def _hex(bits: np.ndarray) -> str:
    return np.packbits(bits.reshape(-1)).tobytes().hex()


def _bits_or_none(coeffs: np.ndarray) -> str | None:
    """The pHash bits of an 8x8 coefficient block, or None when a coefficient is a near tie."""
    flat = coeffs.reshape(-1)
    low, high = np.partition(flat, (31, 32))[31:33]
    median = (low + high) / 2  # np.median's value for 64 numbers
    if np.abs(coeffs - median).min() < _TIE:
        return None
    return _hex(coeffs > median)


def _phash_pair(grey: Image.Image) -> tuple[str, str]:
    """(pHash, pHash of the left-right mirror of the 32x32 input) as imagehash gives them."""
    small = grey.resize((_N, _N), _LANCZOS)
    coeffs = _C @ np.asarray(small, dtype=np.float64) @ _CT
    plain = _bits_or_none(coeffs)
    mirrored = _bits_or_none(coeffs * _FLIP[None, :])  # exact: only signs change
    if plain is None:
        plain = str(imagehash.phash(small))
    if mirrored is None:
        mirrored = str(imagehash.phash(small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    return plain, mirrored


def phash_hex(grey: Image.Image) -> str:
    """imagehash.phash(grey) as a hex string; `grey` is an 'L' image of any size."""
    return _phash_pair(grey)[0]


def dhash_hex(grey: Image.Image) -> str:
    """imagehash.dhash(grey) as a hex string; `grey` is an 'L' image of any size."""
    pixels = np.asarray(grey.resize((_K + 1, _K), _LANCZOS))
    return _hex(pixels[:, 1:] > pixels[:, :-1])


def perceptual64(img: Image.Image) -> tuple[str, str, str]:
    """(pHash, dHash, mirror pHash) of a decoded image, each the string imagehash gives.

    The mirror pHash is imagehash.phash of the left-right mirror of the 32x32 pHash input,
    which is imagehash.phash(ImageOps.mirror(img)) too: LANCZOS downscaling commutes with the
    mirror (checked in tests/test_hashes_speedpath.py)."""
    grey = img if img.mode == "L" else img.convert("L")
    phash, mirror = _phash_pair(grey)
    return phash, dhash_hex(grey), mirror
