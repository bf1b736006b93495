"""The border finder's edge scan stops at the first line that is no border: it must give
exactly what reading every line gives (hypothesis, against the plain definition)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hashes import video_border


def plain_run(lines: np.ndarray, tolerance: float) -> int:
    """The definition: leading lines within `tolerance` of the first line's median."""
    ref = np.median(lines[0])
    ok = np.abs(lines - ref).max(axis=1) <= tolerance
    return len(ok) if ok.all() else int(np.argmin(ok))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 200),
    st.integers(1, 60),
    st.integers(0, 255),
    st.integers(0, 2**32 - 1),
    st.floats(0, 20),
)
def test_the_edge_scan_equals_reading_every_line(rows, cols, colour, seed, tolerance) -> None:
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (rows, cols)).astype(np.float64)
    border = int(rng.integers(0, rows + 1))
    grid[:border] = colour + rng.integers(-14, 15, (border, cols))  # a border, some strays
    for lines in (grid, grid[::-1], grid.T, grid.T[::-1]):
        assert video_border._run(lines, tolerance) == plain_run(lines, tolerance)


def test_a_framed_picture_is_found_and_a_plain_one_is_not() -> None:
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (300, 400)).astype(np.uint8)
    framed = np.zeros((360, 480), np.uint8)
    framed[30:330, 40:440] = picture
    top, bottom, left, right = video_border.content_box(framed)
    assert abs(top - 30) <= 2 and abs(bottom - 330) <= 2
    assert abs(left - 40) <= 2 and abs(right - 440) <= 2
    assert video_border.content_box(picture) is None
