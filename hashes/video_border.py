"""Frame borders: the picture inside a uniform margin (letterbox, pillarbox, a coloured frame).

A re-upload often adds a border: black bars to fit another aspect ratio, or a coloured frame
around the picture. PDQ of the whole frame then differs from the original's by far more than
any match threshold. `content_box(luma)` finds the picture inside such a border: from each edge,
the lines (rows or columns) whose every pixel lies within `tolerance` luma levels of that edge's
outermost line; each side independently (bars on two sides only are common). Lines are read on
a sub-sampled grid (about 256 samples across the short side), so the box is exact to a few
pixels, which PDQ (a 64x64 reduction) does not notice. The border hash is an extra hash of a
frame, next to the whole frame's one: nothing is taken away from vPDQ.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 12.0  # luma levels (0..255) a border pixel may stray from its edge's colour
MIN_BORDER = 0.02  # a border is at least this fraction of the frame's width or height ...
MIN_CONTENT = 0.25  # ... and leaves a picture of at least this fraction of each side
MIN_SIDE = 16  # pixels: a smaller picture is not hashed
_SAMPLES = 256  # samples across the short side of the grid the lines are read on


def _run(lines: np.ndarray, tolerance: float) -> int:
    """How many leading lines (rows of `lines`) lie within `tolerance` of the median of the
    first one. Read in growing blocks from the edge and stopped at the first line that is not:
    a frame without a border costs one line per edge, not the whole grid."""
    ref = np.median(lines[0])
    n, at, block = len(lines), 0, 1
    while at < n:
        part = lines[at : at + block]
        ok = np.abs(part - ref).max(axis=1) <= tolerance
        if not ok.all():
            return at + int(np.argmin(ok))
        at += len(part)
        block = min(block * 4, 64)
    return n


def content_box(luma: np.ndarray, tolerance: float = TOLERANCE) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) pixel bounds of the picture inside a uniform border of `luma`
    (rows top:bottom, columns left:right), or None when there is no such border."""
    h, w = luma.shape
    step = max(1, min(h, w) // _SAMPLES)
    grid = luma[::step, ::step]
    gh, gw = grid.shape
    if gh < 8 or gw < 8:
        return None
    top = _run(grid, tolerance)
    if top >= gh:
        return None  # a uniform frame: nothing inside
    bottom = gh - _run(grid[::-1], tolerance)
    inner = grid[top:bottom]
    left = _run(inner.T, tolerance)
    right = gw - _run(inner.T[::-1], tolerance)
    if right <= left:
        return None
    # back to pixels, rounding inwards: the picture's edge lies within one step
    t, b = min(h, (top + (top > 0)) * step), min(h, (bottom - (bottom < gh)) * step)
    lft, r = min(w, (left + (left > 0)) * step), min(w, (right - (right < gw)) * step)
    if (b - t) < max(MIN_SIDE, MIN_CONTENT * h) or (r - lft) < max(MIN_SIDE, MIN_CONTENT * w):
        return None
    if max(t, h - b) < MIN_BORDER * h and max(lft, w - r) < MIN_BORDER * w:
        return None  # no margin worth a second hash
    return t, b, lft, r
