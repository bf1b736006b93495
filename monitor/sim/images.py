"""Benign generated images for the simulated world: drawings from a seed, encoded in memory.

Every image is a deterministic function of its seed: a gradient background, large coloured
shapes (they dominate the low frequencies, so different seeds are far apart under perceptual
hashing), a little noise and a text label. Besides the drawings: re-upload transforms, a
hoster's "image removed" placeholder, a decompression bomb (tiny PNG declaring huge
dimensions) and corrupt bytes. `canary` embeds a byte string in the encoded file (JPEG/GIF
comment, PNG text chunk, WebP XMP) so a test can prove served bytes were never persisted.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from PIL.PngImagePlugin import PngInfo

FORMATS = ("jpeg", "png", "webp", "gif")
CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp4": "video/mp4",  # a video item (monitor.sim.videos renders it)
}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif", "mp4": "mp4"}
TRANSFORMS = ("reencode", "resize", "crop", "border", "mirror")
_SIZES = ((320, 240), (400, 300), (256, 256), (360, 270), (300, 400), (480, 320))


def draw(seed: int, size: tuple[int, int] | None = None) -> Image.Image:
    """The drawing for `seed` (RGB)."""
    rnd = random.Random(f"image:{seed}")
    w, h = size or rnd.choice(_SIZES)
    img = Image.fromarray(_gradient(rnd, w, h), "RGB")
    pen = ImageDraw.Draw(img)
    for _ in range(rnd.randint(5, 8)):
        _shape(pen, rnd, w, h)
    pixels = np.asarray(img, dtype=np.int16).reshape(-1)
    raw = np.frombuffer(random.Random(f"noise:{seed}").randbytes(pixels.size), np.uint8)
    noise = (raw % 19).astype(np.int16) - 9
    mixed = np.clip(pixels + noise, 0, 255).astype(np.uint8).reshape(h, w, 3)
    img = Image.fromarray(mixed, "RGB")
    ImageDraw.Draw(img).text((6, h - 16), f"sample {seed}", fill=(255, 255, 255))
    return img


def _gradient(rnd: random.Random, w: int, h: int) -> np.ndarray:
    a = np.array([rnd.randrange(256) for _ in range(3)], dtype=np.float32)
    b = np.array([rnd.randrange(256) for _ in range(3)], dtype=np.float32)
    angle = rnd.uniform(0, 2 * np.pi)
    xs = np.arange(w, dtype=np.float32) / w * np.float32(np.cos(angle))
    ys = np.arange(h, dtype=np.float32) / h * np.float32(np.sin(angle))
    t = xs[None, :] + ys[:, None]
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    out = np.empty((h, w, 3), dtype=np.uint8)
    for c in range(3):  # per channel: broadcasting over a last axis of 3 is slow
        out[..., c] = a[c] + (b[c] - a[c]) * t
    return out


def _shape(pen: ImageDraw.ImageDraw, rnd: random.Random, w: int, h: int) -> None:
    light = rnd.random() < 0.5
    colour = tuple(rnd.randrange(150, 256) if light else rnd.randrange(0, 110) for _ in range(3))
    x0, y0 = rnd.randrange(-w // 4, w), rnd.randrange(-h // 4, h)
    x1, y1 = x0 + rnd.randrange(w // 5, w // 2 + 1), y0 + rnd.randrange(h // 5, h // 2 + 1)
    kind = rnd.choice(("rect", "ellipse", "polygon", "line"))
    if kind == "rect":
        pen.rectangle((x0, y0, x1, y1), fill=colour)
    elif kind == "ellipse":
        pen.ellipse((x0, y0, x1, y1), fill=colour)
    elif kind == "polygon":
        pts = [
            (rnd.randrange(-w // 4, w + w // 4), rnd.randrange(-h // 4, h + h // 4))
            for _ in range(rnd.randint(3, 6))
        ]
        pen.polygon(pts, fill=colour)
    else:
        pen.line((x0, y0, x1, y1), fill=colour, width=rnd.randint(8, 30))


def encode(img: Image.Image, fmt: str, *, quality: int = 88, canary: bytes | None = None) -> bytes:
    """`img` as `fmt` bytes (jpeg, png, webp, gif), optionally carrying `canary`."""
    out = io.BytesIO()
    if fmt == "jpeg":
        extra = {"comment": canary} if canary else {}
        img.convert("RGB").save(out, "JPEG", quality=quality, **extra)
    elif fmt == "png":
        info = None
        if canary:
            info = PngInfo()
            info.add_text("Comment", canary.decode("latin-1"))
        img.save(out, "PNG", compress_level=1, pnginfo=info)
    elif fmt == "webp":
        extra = {"xmp": canary} if canary else {}
        img.convert("RGB").save(out, "WEBP", quality=quality, method=0, **extra)
    elif fmt == "gif":
        extra = {"comment": canary} if canary else {}
        small = img.convert("RGB").quantize(
            64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        small.save(out, "GIF", **extra)
    else:
        raise ValueError(f"unknown image format {fmt!r} (known: {', '.join(FORMATS)})")
    return out.getvalue()


def render(seed: int, fmt: str = "jpeg", *, canary: bytes | None = None) -> bytes:
    """The drawing for `seed`, encoded."""
    return encode(draw(seed), fmt, canary=canary)


def transform(img: Image.Image, kind: str, seed: int = 0) -> Image.Image:
    """A re-upload variant of `img`: reencode (unchanged pixels), resize, crop, border, mirror."""
    rnd = random.Random(f"transform:{kind}:{seed}")
    w, h = img.size
    if kind == "reencode":
        return img.copy()
    if kind == "resize":
        scale = rnd.uniform(0.55, 0.8)
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        return img.resize(size, Image.Resampling.LANCZOS)
    if kind == "crop":
        dx, dy = int(w * rnd.uniform(0.01, 0.03)), int(h * rnd.uniform(0.01, 0.03))
        return img.crop((dx, dy, w - dx, h - dy))
    if kind == "border":
        colour = tuple(rnd.randrange(256) for _ in range(3))
        return ImageOps.expand(img, border=rnd.randint(2, 5), fill=colour)
    if kind == "mirror":
        return ImageOps.mirror(img)
    raise ValueError(f"unknown transform {kind!r} (known: {', '.join(TRANSFORMS)})")


def render_transformed(seed: int, kind: str, fmt: str, *, canary: bytes | None = None) -> bytes:
    """The drawing for `seed` after `kind`, encoded (reencode uses a lower JPEG quality)."""
    quality = 68 if kind == "reencode" else 85
    return encode(transform(draw(seed), kind, seed), fmt, quality=quality, canary=canary)


def placeholder(label: str, fmt: str = "png", *, canary: bytes | None = None) -> bytes:
    """A hoster's flat grey "image removed" picture."""
    img = Image.new("RGB", (320, 240), (204, 204, 204))
    pen = ImageDraw.Draw(img)
    pen.rectangle((110, 50, 210, 150), outline=(150, 150, 150), width=6)
    pen.line((110, 50, 210, 150), fill=(150, 150, 150), width=6)
    pen.text((100, 180), "image removed", fill=(90, 90, 90))
    pen.text((100, 200), label[:30], fill=(120, 120, 120))
    return encode(img, fmt, canary=canary)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A tiny PNG whose header declares `width` x `height` grey pixels (a decompression bomb)."""
    rows = zlib.compress(b"\x00" * ((width + 1) * 16), 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")
    )


def corrupt(seed: int) -> bytes:
    """A JPEG whose header turns to garbage after 300 bytes: decoders cannot read it."""
    good = render(seed, "jpeg")
    return good[:300] + random.Random(f"corrupt:{seed}").randbytes(len(good) - 300)
