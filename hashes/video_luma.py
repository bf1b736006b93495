"""A decoded frame's luma as vPDQ's reference computes it (from RGB24, PDQ's coefficients).

By default straight from the 8-bit Y plane, scaled from video range (16..235) to 0..255 as the
reference's RGB conversion implies (BT.601 coefficients, full range only for the yuvj formats
and full-range-tagged frames); `exact` converts to RGB24 as the reference does (FFmpeg's
swscale) and takes luma with PDQ's coefficients: bit-identical hashes, several times slower.
"""

from __future__ import annotations

import av
import numpy as np

from hashes.pdq import luma_from_rgb

_VIDEO_RANGE = np.float32(255.0 / 219.0)
_Y_PLANE = frozenset(  # 8-bit formats whose first plane is the luma
    "yuv420p yuv422p yuv444p yuv440p yuv411p yuv410p yuva420p yuva422p yuva444p nv12 nv21 nv16 "
    "nv24 yuvj420p yuvj422p yuvj444p yuvj440p yuvj411p".split()
)
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG


def frame_luma(frame: av.VideoFrame, exact: bool = False) -> np.ndarray:
    """Float32 luma of a decoded frame, as the reference computes it from RGB24."""
    name = frame.format.name
    if exact or name not in _Y_PLANE:
        return luma_from_rgb(frame.to_ndarray(format="rgb24"))
    plane = frame.planes[0]
    w, h, stride = frame.width, frame.height, plane.line_size
    y = np.frombuffer(memoryview(plane), np.uint8, count=stride * h).reshape(h, stride)[:, :w]
    if name.startswith("yuvj") or frame.color_range == _FULL_RANGE:
        return y.astype(np.float32)
    luma = y.astype(np.float32)
    luma -= 16
    luma *= _VIDEO_RANGE
    return luma
