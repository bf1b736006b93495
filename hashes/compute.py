"""From image bytes in memory to hashes: pHash, dHash, PDQ (with dihedral variants), digests.

`compute(data)` never raises for bad input and never keeps the bytes: it returns a frozen
`MediaHashes` with `ok=False` and a short `error` (which never quotes the input) when the bytes
are not a decodable image, too large, or corrupt. Exact digests are always computed.

JPEG fast path: pHash and dHash come from a DCT-domain downscaled decode (`draft('L', ...)`),
PDQ from a separate full-resolution decode straight to luma (`draft('L', full size)`: JPEG's own
Y channel, no colour conversion; never the downscaled decode). Other formats (PNG, WebP, GIF
first frame, BMP) decode once for all hashes. EXIF orientation is applied before hashing.
pHash/dHash strings are exactly imagehash's for the same decoded image (hashes._phash).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from hashes._phash import perceptual64
from hashes.pdq import luma_from_rgb, pdq_from_luma

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
MIN_SIDE = 64  # images smaller than this on either side are not used for matching
MIN_QUALITY = 50  # nor are images whose PDQ quality is below this
DRAFT_SIZE = (32, 32)  # pHash works on 32x32; the JPEG draft decode keeps at least this


@dataclass(frozen=True)
class MediaHashes:
    ok: bool
    error: str | None
    format: str | None
    width: int
    height: int
    phash: str | None
    dhash: str | None
    pdq: str | None
    pdq_quality: int | None
    sha256: str
    sha1: str
    md5: str
    phash_mirror: str | None = None
    pdq_dihedral: tuple[str, ...] = ()
    usable: bool = False

    def get(self, algorithm: str) -> str | None:
        """The hash of `algorithm` (a name from hashes.formats.ALGORITHMS), or None."""
        value = getattr(self, algorithm, None) if algorithm in _FIELDS else None
        return value if isinstance(value, str) else None


_FIELDS = frozenset({"phash", "dhash", "pdq", "md5", "sha1", "sha256"})


class _Reject(Exception):
    """Input refused with a reason that is safe to show (never quotes the input)."""


def hamming(a_hex: str, b_hex: str) -> int:
    """Bit distance between two hex hashes of the same length."""
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hash lengths differ: {len(a_hex)} and {len(b_hex)} hex digits")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def phash_dhash(data: bytes) -> tuple[str, str, str]:
    """(pHash, dHash, pHash of the mirror image) of image bytes; the fast path for JPEG.

    Raises on bad input; `compute` is the safe entry point."""
    return perceptual64(_small_image(_open(data, max_pixels=None)))


def pdq_hash(data: bytes) -> tuple[str, int, tuple[str, ...]]:
    """(PDQ, quality, 8 dihedral PDQs) of image bytes from full-resolution luma.

    Raises on bad input; `compute` is the safe entry point."""
    return pdq_from_luma(_full_luma(_open(data, max_pixels=None)))


def compute(data: bytes, *, max_pixels: int = 50_000_000) -> MediaHashes:
    """All hashes of `data`; `ok=False` with an error for anything that is not a usable image."""
    view = bytes(data) if not isinstance(data, bytes) else data
    digests = {
        "sha256": hashlib.sha256(view).hexdigest(),
        "sha1": hashlib.sha1(view).hexdigest(),
        "md5": hashlib.md5(view).hexdigest(),
    }
    try:
        return _compute(view, max_pixels, digests)
    except _Reject as exc:
        return _failed(str(exc), digests)
    except Image.DecompressionBombError:
        return _failed("too many pixels", digests)
    except MemoryError:
        return _failed("too many pixels: out of memory", digests)
    except Exception as exc:  # noqa: BLE001 - decoders raise many types; none may escape
        return _failed(f"corrupt image: {type(exc).__name__}", digests)


def _failed(error: str, digests: dict[str, str], fmt: str | None = None) -> MediaHashes:
    return MediaHashes(ok=False, error=error, format=fmt, width=0, height=0, phash=None,
                       dhash=None, pdq=None, pdq_quality=None, sha256=digests["sha256"],
                       sha1=digests["sha1"], md5=digests["md5"])


def _open(data: bytes, max_pixels: int | None) -> Image.Image:
    if not data:
        raise _Reject("not an image: empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise _Reject("not an image: unrecognised format") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        raise _Reject("not an image: empty size")
    if max_pixels is not None and w * h > max_pixels:
        raise _Reject(f"too many pixels: {w}x{h} > {max_pixels}")
    return img


def _is_jpeg(img: Image.Image) -> bool:
    return img.format in ("JPEG", "MPO")


def _decode(img: Image.Image) -> Image.Image:
    """Load the first frame with EXIF orientation applied (in place: no copy when upright)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        img.load()
        ImageOps.exif_transpose(img, in_place=True)
        return img


def _small_image(img: Image.Image) -> Image.Image:
    """The image for pHash/dHash from a freshly opened `img`: a DCT-domain downscaled luma
    decode for JPEG (at least 32x32, the pHash input), the full decode otherwise."""
    if _is_jpeg(img):
        img.draft("L", DRAFT_SIZE)
    return _as_rgb(_decode(img))


def _as_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGB", "L"):
        return img
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if img.mode.startswith("I"):  # 16-bit greyscale PNG
            arr = np.asarray(img.convert("I"), dtype=np.int64) >> 8
            return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
        return img.convert("RGB")


def _luma(full: Image.Image) -> np.ndarray:
    """Float32 luma of a decoded 'L' or 'RGB' image."""
    arr = np.asarray(full)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    return luma_from_rgb(arr[:, :, :3])


def _full_luma(img: Image.Image) -> np.ndarray:
    """Full-resolution luma of a freshly opened `img`; JPEG decodes straight to its Y plane."""
    if _is_jpeg(img):
        img.draft("L", img.size)  # full size: only skips the colour conversion
    return _luma(_as_rgb(_decode(img)))


def _compute(data: bytes, max_pixels: int, digests: dict[str, str]) -> MediaHashes:
    img = _open(data, max_pixels)
    if _is_jpeg(img):
        fmt = "jpeg"
        phash, dhash, mirror = perceptual64(_small_image(_open(data, max_pixels)))
        luma = _full_luma(img)
    else:
        fmt = (img.format or "").lower()
        full = _as_rgb(_decode(img))
        phash, dhash, mirror = perceptual64(full)
        luma = _luma(full)
    height, width = luma.shape
    pdq, quality, dihedral = pdq_from_luma(luma)
    usable = min(width, height) >= MIN_SIDE and quality >= MIN_QUALITY
    return MediaHashes(ok=True, error=None, format=fmt, width=width, height=height,
                       phash=phash, dhash=dhash, pdq=pdq, pdq_quality=quality,
                       sha256=digests["sha256"], sha1=digests["sha1"], md5=digests["md5"],
                       phash_mirror=mirror, pdq_dihedral=dihedral, usable=usable)
