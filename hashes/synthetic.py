"""Generated benign test images: deterministic PIL/numpy drawings for tests and benchmarks.

Each seed gives a different scene (smooth colour background, filled shapes, lines, a little
sensor-like noise), so perceptual hashes of different seeds are unrelated and PDQ quality is
high. Nothing here is fetched or real.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def image(seed: int, size: tuple[int, int] = (1024, 768)) -> Image.Image:
    """An RGB drawing of `size` (width, height) determined by `seed`."""
    rng = np.random.default_rng(seed)
    w, h = size
    grid = rng.integers(
        0, 256, (int(rng.integers(2, 8)), int(rng.integers(2, 8)), 3), dtype=np.uint8
    )
    img = Image.fromarray(grid).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(6, 20))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1 = x0 + int(rng.integers(2, max(3, w // 2)))
        y1 = y0 + int(rng.integers(2, max(3, h // 2)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 4))
        if kind == 0:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif kind == 1:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        elif kind == 2:
            pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(3)]
            draw.polygon(pts, fill=colour)
        else:
            draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(1, 12)))
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    noisy = np.asarray(img).astype(np.int16) + rng.normal(0, 2, (h, w, 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    """The bytes of `img` encoded in memory as `fmt`."""
    out = BytesIO()
    if fmt.upper() == "JPEG":
        options.setdefault("quality", 85)
        img = img.convert("RGB")
    img.save(out, fmt, **options)
    return out.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (1024, 768), quality: int = 85) -> bytes:
    """JPEG bytes of `image(seed, size)`."""
    return encode(image(seed, size), "JPEG", quality=quality)
