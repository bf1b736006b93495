"""Generated benign videos, made in memory with PyAV: moving shapes, noise, scene cuts.

Shared by the tests (tests.video_fixtures), the benchmarks and the simulated world
(monitor.sim): nothing real is ever needed to exercise video hashing.

`clip(seed, ...)` encodes a clip whose content is fixed by `seed`: every `cut_every` seconds a
new scene starts (a scene cut), each scene a smooth random colour field that drifts, a few filled
rectangles and ellipses that move across it, and a little per-frame sensor-like grain (noise).
Different seeds give unrelated clips. `variant(data, ...)` decodes a clip and re-encodes it the
way a re-upload would be: another bitrate or codec, resized, trimmed, or with a frame border.
`frames_at(seed, times)` draws frames without encoding (cheap distractors for benchmarks).
Nothing here is fetched or real; bytes stay in memory unless a caller writes them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw

__all__ = ["clip", "decoded", "encode", "frames", "frames_at", "garbage", "variant"]


def _field(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A smooth random colour field: a small random grid, bicubically enlarged."""
    gw, gh = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    grid = rng.integers(0, 256, (gh, gw, 3), dtype=np.uint8)
    return Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC)


_GRAIN = 4  # grain images per scene, used in turn


class _Scene:
    """One scene: two colour fields blended over time, shapes moving at constant speed, grain."""

    def __init__(self, seed: int, w: int, h: int) -> None:
        rng = np.random.default_rng(seed)
        self.w, self.h = w, h
        self.a, self.b = _field(rng, w, h), _field(rng, w, h)
        n = int(rng.integers(4, 9))
        self.kinds = rng.integers(0, 2, n)  # 0 rectangle, 1 ellipse
        self.sizes = rng.uniform(0.1, 0.35, (n, 2)) * (w, h)
        self.pos = rng.uniform(0, 1, (n, 2)) * (w, h)
        self.vel = rng.uniform(-0.06, 0.06, (n, 2)) * (w, h)  # per second: slow, steady motion
        self.colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(n)]
        grain = rng.integers(0, 256, (_GRAIN, h, w), dtype=np.uint8)
        self.grain = [Image.fromarray(g).convert("RGB") for g in grain]
        self.drawn = 0

    def draw(self, t: float) -> np.ndarray:
        mix = 0.5 - 0.5 * np.cos(min(t / 8.0, 1.0) * np.pi)  # the background drifts
        img = Image.blend(self.a, self.b, float(mix))
        pen = ImageDraw.Draw(img)
        for kind, (sw, sh), (px, py), (vx, vy), colour in zip(
            self.kinds, self.sizes, self.pos, self.vel, self.colours, strict=True
        ):
            cx = (px + vx * t) % (self.w + sw) - sw / 2
            cy = (py + vy * t) % (self.h + sh) - sh / 2
            box = (cx - sw / 2, cy - sh / 2, cx + sw / 2, cy + sh / 2)
            (pen.rectangle if kind == 0 else pen.ellipse)(box, fill=colour)
        grain = self.grain[self.drawn % _GRAIN]
        self.drawn += 1
        return np.asarray(Image.blend(img, grain, 0.03))  # grain of about +-4, as a sensor's


def frames(
    seed: int,
    size: tuple[int, int] = (320, 240),
    seconds: float = 4.0,
    fps: float = 15,
    cut_every: float = 3.0,
) -> Iterator[np.ndarray]:
    """The RGB frames (HxWx3 uint8) of clip `seed`: a scene cut every `cut_every` seconds."""
    return frames_at(seed, (i / fps for i in range(int(round(seconds * fps)))), size, cut_every)


def frames_at(
    seed: int, times: Iterable[float], size: tuple[int, int] = (96, 72), cut_every: float = 3.0
) -> Iterator[np.ndarray]:
    """The frames of clip `seed` at `times` (seconds, increasing), drawn without encoding."""
    scene, current = None, -1
    for t in times:
        k = int(t // cut_every)
        if k != current:
            scene, current = _Scene(seed * 1009 + k, *size), k
        assert scene is not None
        yield scene.draw(t - k * cut_every)


def encode(
    images: Iterable[np.ndarray],
    fps: float = 15,
    *,
    codec: str = "libx264",
    container: str = "mp4",
    bitrate: int | None = None,
    crf: int | None = 23,
    preset: str = "veryfast",
    gop: int | None = None,
    layout: str = "faststart",
    muxer_options: dict[str, str] | None = None,
) -> bytes:
    """Encode RGB frames into a container in memory; returns the file's bytes. MP4 `layout`:
    "faststart" (index first, as web servers serve MP4), "end" (index after the media) or
    "fragmented" (fragments, each with its own index). `muxer_options` go to the muxer."""
    buf = io.BytesIO()
    options: dict[str, str] = (
        {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
        if container == "mp4" and layout == "fragmented"
        else {}
    )
    options.update(muxer_options or {})
    with av.open(buf, "w", format=container, options=options) as out:
        stream: av.video.stream.VideoStream | None = None
        for i, img in enumerate(images):
            if stream is None:
                stream = _video_stream(out, codec, fps, img.shape, bitrate, crf, preset, gop)
            h, w = stream.height, stream.width
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h, :w]), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1) / stream.codec_context.rate
            out.mux(stream.encode(frame))
        if stream is not None:
            out.mux(stream.encode(None))
    data = buf.getvalue()
    return _faststart(data) if container == "mp4" and layout == "faststart" else data


def _video_stream(
    out: av.container.OutputContainer,
    codec: str,
    fps: float,
    shape: tuple[int, ...],
    bitrate: int | None,
    crf: int | None,
    preset: str,
    gop: int | None,
) -> av.video.stream.VideoStream:
    stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    assert isinstance(stream, av.video.stream.VideoStream)
    stream.width, stream.height = shape[1] & ~1, shape[0] & ~1  # yuv420p: even sides
    stream.pix_fmt = "yuv420p"
    opts: dict[str, object] = {}
    if codec == "libx264":
        opts["preset"] = preset
        if bitrate is None and crf is not None:
            opts["crf"] = str(crf)
    elif codec.startswith("libvpx"):
        opts.update({"deadline": "realtime", "cpu-used": "8"})
    if bitrate is not None:
        stream.bit_rate = bitrate
    if gop is not None:
        stream.gop_size = gop
    stream.options = opts
    return stream


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of the ISO-BMFF boxes in data[start:end] (32-bit sizes only)."""
    at = start
    while at + 8 <= end:
        size = int.from_bytes(data[at : at + 4], "big")
        yield data[at + 4 : at + 8], at, at + size
        at += size


def _shift_offsets(moov: bytearray, start: int, end: int, delta: int) -> None:
    for kind, a, b in list(_boxes(bytes(moov), start, end)):
        if kind in _CONTAINERS:
            _shift_offsets(moov, a + 8, b, delta)
        elif kind in (b"stco", b"co64"):
            width = 4 if kind == b"stco" else 8
            count = int.from_bytes(moov[a + 12 : a + 16], "big")
            for i in range(count):
                p = a + 16 + i * width
                value = int.from_bytes(moov[p : p + width], "big") + delta
                moov[p : p + width] = value.to_bytes(width, "big")


def _faststart(data: bytes) -> bytes:
    """The MP4 with its index (moov) moved before the media (mdat), chunk offsets fixed up."""
    boxes = list(_boxes(data, 0, len(data)))
    moov = next((a, b) for kind, a, b in boxes if kind == b"moov")
    moov_box = bytearray(data[moov[0] : moov[1]])
    _shift_offsets(moov_box, 8, len(moov_box), len(moov_box))
    head = b"".join(data[a:b] for kind, a, b in boxes if kind == b"ftyp")
    rest = b"".join(data[a:b] for kind, a, b in boxes if kind not in (b"ftyp", b"moov"))
    return head + bytes(moov_box) + rest


def clip(
    seed: int,
    size: tuple[int, int] = (320, 240),
    seconds: float = 4.0,
    fps: int = 15,
    cut_every: float = 3.0,
    **options: object,
) -> bytes:
    """Encoded bytes of clip `seed` (H.264 in MP4 unless `options` say otherwise)."""
    return encode(frames(seed, size, seconds, fps, cut_every), fps, **options)  # type: ignore[arg-type]


def decoded(data: bytes) -> tuple[list[np.ndarray], float]:
    """All frames of `data` as RGB arrays, and the stream's frame rate."""
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        return [f.to_ndarray(format="rgb24") for f in container.decode(stream)], fps


def variant(
    data: bytes,
    *,
    scale: float = 1.0,
    border: float = 0.0,
    border_colour: tuple[int, int, int] = (0, 0, 0),
    trim_start: float = 0.0,
    trim_end: float = 0.0,
    fps: float | None = None,
    **options: object,
) -> bytes:
    """Re-upload of `data`: decoded, trimmed by seconds at either end, resized by `scale`,
    framed with a border (`border` x the width on the left and right, x the height on top and
    bottom), resampled to `fps` and re-encoded with `options` (bitrate, codec, container...)."""
    images, rate = decoded(data)
    out_fps = fps or rate
    first, last = trim_start, len(images) / rate - trim_end
    out: list[np.ndarray] = []
    n = int((last - first) * out_fps)
    for j in range(n):
        src = images[min(len(images) - 1, int((first + j / out_fps) * rate + 1e-6))]
        img = Image.fromarray(src)
        if scale != 1.0:
            img = img.resize(
                (max(8, round(img.width * scale)), max(8, round(img.height * scale))),
                Image.Resampling.BILINEAR,
            )
        if border > 0:
            bw, bh = round(img.width * border), round(img.height * border)
            framed = Image.new("RGB", (img.width + 2 * bw, img.height + 2 * bh), border_colour)
            framed.paste(img, (bw, bh))
            img = framed
        out.append(np.asarray(img))
    return encode(out, out_fps, **options)  # type: ignore[arg-type]


def garbage(n: int = 4096, seed: int = 0) -> bytes:
    """Random bytes (no container)."""
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
