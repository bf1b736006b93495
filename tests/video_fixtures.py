"""Generated benign test videos for the tests and benchmarks: the generator lives in
hashes.synthetic_video (shared with the simulated world); this module keeps the names the tests
and bench/bench_video.py import (`clip`, `encode`, `frames`, `frames_at`, `garbage`, `variant`,
`decoded`)."""

from __future__ import annotations

from hashes.synthetic_video import (
    clip,
    decoded,
    encode,
    frames,
    frames_at,
    garbage,
    variant,
)

__all__ = ["clip", "decoded", "encode", "frames", "frames_at", "garbage", "variant"]
