"""From image bytes in memory to hashes: pHash, dHash, PDQ (with dihedral variants), digests.

`compute(data)` never raises for bad input and never keeps the bytes: it returns a frozen
`MediaHashes` with `ok=False` and a short `error` (which never quotes the input) when the bytes
are not a decodable image, too large, or corrupt. Exact digests are always computed. An error
starts with its kind (`error_kind`, one of ERROR_KINDS), then ": " and a detail:
`not_image` (empty, unrecognised format), `decompression_bomb` (more pixels declared than
`max_pixels`, or PIL's DecompressionBombError/Warning), `too_large` (out of memory while
decoding), `corrupt` (the decoder failed). monitor.core.classify reads the kind: a bomb or an
oversized image is no evidence of removal.

JPEG fast path: pHash and dHash come from a DCT-domain downscaled decode (`draft('L', ...)`),
PDQ from a separate full-resolution decode straight to luma (`draft('L', full size)`: JPEG's own
Y channel, no colour conversion; never the downscaled decode). Other formats (PNG, WebP, GIF
first frame, BMP) decode once for all hashes. EXIF orientation is applied before hashing.
pHash/dHash strings are exactly imagehash's for the same decoded image (hashes._phash).

Memory: an image of up to HASH_PIXELS is hashed at full resolution (luma is built in bands of
rows, never as float64 planes), costing some 10 bytes per pixel at most. A larger one (up to
`max_pixels`) is hashed from a reduced decode of at most about REDUCED_PIXELS: JPEG scales in
the DCT domain (`draft`), other formats are decoded once at their native depth and reduced by
an integer box factor band by band (`Image.reduce`), so the peak is the native decode plus a
few MB (a 7000x7000 PNG: ~250 MB RSS and under a second, against 1.1 GB and 3.5 s at full
resolution). PNG has no DCT-domain shortcut, so its native decode (4 bytes a pixel for RGB)
is the floor. Hashes of a reduced decode are near, not equal, to the full-resolution ones
(PDQ itself downsamples to 64x64, pHash to 32x32).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from hashes._phash import perceptual64
from hashes.pdq import luma_from_rgb, pdq_from_luma

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
MIN_SIDE = 64  # images smaller than this on either side are not used for matching
MIN_QUALITY = 50  # nor are images whose PDQ quality is below this
DRAFT_SIZE = (32, 32)  # pHash works on 32x32; the JPEG draft decode keeps at least this
HASH_PIXELS = 4096 * 4096  # images with more pixels are hashed from a reduced decode ...
REDUCED_PIXELS = 2048 * 2048  # ... of at most about this many pixels
_BAND = 256  # rows per band when building luma
_REDUCE_BAND = 64  # source rows (about) per band when reducing band by band
ERROR_KINDS = ("not_image", "decompression_bomb", "too_large", "corrupt")


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

    @property
    def error_kind(self) -> str | None:
        """The kind of `error` (one of ERROR_KINDS), None when hashed."""
        return None if self.error is None else self.error.split(":", 1)[0]

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
        return failed_hashes(str(exc), digests)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return failed_hashes("decompression_bomb: more pixels than PIL allows", digests)
    except MemoryError:
        return failed_hashes("too_large: out of memory while decoding", digests)
    except Exception as exc:  # noqa: BLE001 - decoders raise many types; none may escape
        return failed_hashes(f"corrupt: {type(exc).__name__}", digests)


def failed_hashes(error: str, digests: dict[str, str], fmt: str | None = None) -> MediaHashes:
    """MediaHashes of bytes that gave no image: `error`, and the exact digests only."""
    return MediaHashes(
        ok=False,
        error=error,
        format=fmt,
        width=0,
        height=0,
        phash=None,
        dhash=None,
        pdq=None,
        pdq_quality=None,
        sha256=digests["sha256"],
        sha1=digests["sha1"],
        md5=digests["md5"],
    )


def _open(data: bytes, max_pixels: int | None) -> Image.Image:
    if not data:
        raise _Reject("not_image: empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise _Reject("not_image: unrecognised format") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        raise _Reject("not_image: empty size")
    if max_pixels is not None and w * h > max_pixels:
        raise _Reject(f"decompression_bomb: {w}x{h} pixels > {max_pixels}")
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
    """Float32 luma of a decoded 'L' or 'RGB' image, built in bands of rows: each value is the
    one luma_from_rgb gives for the whole image, without whole-image float64 planes."""
    w, h = full.size
    out = np.empty((h, w), dtype=np.float32)
    for y in range(0, h, _BAND):
        arr = np.asarray(full.crop((0, y, w, min(h, y + _BAND))))
        out[y : y + arr.shape[0]] = arr if arr.ndim == 2 else luma_from_rgb(arr[:, :, :3])
    return out


def _factor(size: tuple[int, int]) -> int:
    """1 for an image hashed at full resolution, else the integer reduction for hashing."""
    pixels = size[0] * size[1]
    return 1 if pixels <= HASH_PIXELS else math.ceil(math.sqrt(pixels / REDUCED_PIXELS))


def _full_luma(img: Image.Image, factor: int = 1) -> np.ndarray:
    """Luma of a freshly opened `img` (reduced by `factor`: JPEG scales in the DCT domain);
    JPEG decodes straight to its Y plane."""
    if _is_jpeg(img):
        w, h = img.size  # full size: only skips the colour conversion
        img.draft("L", (math.ceil(w / factor), math.ceil(h / factor)))
    return _luma(_as_rgb(_decode(img)))


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # EXIF orientation -> what ImageOps.exif_transpose does


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(ExifTags.Base.Orientation, 1))
    except (TypeError, ValueError):
        return 1


def _reduced(img: Image.Image, factor: int) -> Image.Image:
    """A freshly opened non-JPEG `img` decoded once at its native depth, then converted and
    reduced by `factor` band by band ('L' or 'RGB'; equal to reducing the whole converted
    image), EXIF orientation applied: no full-size converted copy is ever made."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        img.load()
        w, h = img.size
        step = factor * max(1, _REDUCE_BAND // factor)  # whole reduction blocks per band
        out: Image.Image | None = None
        for y in range(0, h, step):
            part = _as_rgb(img.crop((0, y, w, min(h, y + step)))).reduce(factor)
            if out is None:
                out = Image.new(part.mode, (math.ceil(w / factor), math.ceil(h / factor)))
            out.paste(part, (0, y // factor))
    assert out is not None  # h > 0 (_open)
    method = _TRANSPOSE.get(_orientation(img))
    return out.transpose(method) if method is not None else out


def _compute(data: bytes, max_pixels: int, digests: dict[str, str]) -> MediaHashes:
    img = _open(data, max_pixels)
    factor = _factor(img.size)
    if factor > 1:  # the upright size of the image itself, not of its reduced decode
        width, height = img.size
        if _orientation(img) in (5, 6, 7, 8):
            width, height = height, width
    if _is_jpeg(img):
        fmt = "jpeg"
        phash, dhash, mirror = perceptual64(_small_image(_open(data, max_pixels)))
        luma = _full_luma(img, factor)
    else:
        fmt = (img.format or "").lower()
        full = _as_rgb(_decode(img)) if factor == 1 else _reduced(img, factor)
        del img  # a reduced decode no longer needs the native one
        phash, dhash, mirror = perceptual64(full)
        luma = _luma(full)
        del full
    if factor == 1:
        height, width = luma.shape
    pdq, quality, dihedral = pdq_from_luma(luma)
    usable = min(width, height) >= MIN_SIDE and quality >= MIN_QUALITY
    return MediaHashes(
        ok=True,
        error=None,
        format=fmt,
        width=width,
        height=height,
        phash=phash,
        dhash=dhash,
        pdq=pdq,
        pdq_quality=quality,
        sha256=digests["sha256"],
        sha1=digests["sha1"],
        md5=digests["md5"],
        phash_mirror=mirror,
        pdq_dihedral=dihedral,
        usable=usable,
    )
