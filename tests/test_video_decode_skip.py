"""The fast pass of hashes.video_decode decodes only what sampled frames need, in segments on
several threads: its frame numbers, hashes and the decoded pixels of every sampled frame must be
exactly those of a full decode (the exact pass, which decodes and counts every frame as the vPDQ
reference does). Clips: x264 with B-frames and b-pyramid (preset medium), closed and open GOPs,
in MP4 (avcC), Matroska and MPEG-TS (Annex B, parameter sets in-band); and the rules that say
where a fresh decoder may start (hashes.video_h264.h264_fresh_starts).
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import replace
from fractions import Fraction

import av
import pytest

from hashes import video_decode
from hashes.video import VideoTimeBudget, video_signature
from hashes.video_h264 import AccessUnit, h264_access_unit, h264_fresh_starts, nal_length_size
from hashes.video_model import VideoLimits
from tests import video_fixtures as vf

FORMATS = {"mp4": "mov", "matroska": "matroska", "mpegts": "mpegts"}
CLIPS = {  # name: (x264 parameters, container)
    "closed-gop-mp4": ("keyint=24:min-keyint=24", "mp4"),
    "open-gop-mp4": ("keyint=24:min-keyint=24:open-gop=1", "mp4"),
    "x264-default-gop-mkv": ("", "matroska"),
    "closed-gop-ts": ("keyint=30", "mpegts"),
}


def encode(x264_params: str, container: str, seconds: float = 6, fps: int = 24) -> bytes:
    """A generated clip by x264 preset medium (3 B-frames, b-pyramid normal, 3 references)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"preset": "medium", "crf": "23", "x264-params": x264_params}
        for i, img in enumerate(vf.frames(5, (320, 240), seconds, fps, cut_every=2.5)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def run_pass(data: bytes, fmt: str, *, fast: bool, threads: int, sph: float, monkeypatch):
    """A signature by one pass, and a digest of every plane of each sampled frame."""
    pixels: dict[int, str] = {}
    original = video_decode._Pass._hash

    def hash_and_keep(self, frame: av.VideoFrame, n: int) -> None:
        digest = hashlib.sha256()
        for plane in frame.planes:
            digest.update(bytes(plane))
        pixels[n] = digest.hexdigest()
        original(self, frame, n)

    monkeypatch.setattr(video_decode._Pass, "_hash", hash_and_keep)
    args = (data, fmt, VideoLimits(threads=threads), sph, False, False, True, float("inf"))
    sig = video_decode._Pass(*args, fast=fast).run()
    monkeypatch.setattr(video_decode._Pass, "_hash", original)
    return sig, pixels


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    return {name: encode(params, container) for name, (params, container) in CLIPS.items()}


@pytest.mark.parametrize("name", list(CLIPS))
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sph", [1.0, 0.5])
def test_fast_pass_gives_what_a_full_decode_gives(name, threads, sph, clips, monkeypatch) -> None:
    data, fmt = clips[name], FORMATS[CLIPS[name][1]]
    full, full_pixels = run_pass(data, fmt, fast=False, threads=0, sph=sph, monkeypatch=monkeypatch)
    fast, fast_pixels = run_pass(
        data, fmt, fast=True, threads=threads, sph=sph, monkeypatch=monkeypatch
    )
    assert full.frame_count == 144 and full.frames_skipped == 0
    assert [f.frame for f in full.frames] == list(range(0, 144, int(sph * 24)))
    assert replace(fast, frames_skipped=0) == full  # numbers, hashes, inner hashes, count
    assert fast_pixels == full_pixels  # the decoded planes themselves
    assert fast.frames_skipped > 0  # something was left undecoded


def test_segments_are_decoded_in_parallel(clips, monkeypatch) -> None:
    """Closed GOPs: segments at every IDR, shared by two decoders; the open GOP clip (its
    key frames are not IDR pictures) is one segment."""
    seen: list[int] = []
    original = video_decode._Pass._parallel

    def spy(self, stream, tasks, cores):
        seen.append(len(tasks))
        return original(self, stream, tasks, cores)

    monkeypatch.setattr(video_decode._Pass, "_parallel", spy)
    limits = VideoLimits(threads=2)
    for name, (_, container) in CLIPS.items():
        args = (clips[name], FORMATS[container], limits, 1.0, False, False, True, float("inf"))
        video_decode._Pass(*args, fast=True).run()
        assert (len(seen) == 1 and seen.pop() >= 3) == (name != "open-gop-mp4"), name


def starts(data: bytes) -> tuple[list[int], int, list[bool]]:
    """The fresh starts of a clip, its x264 build, and which packets are IDR pictures."""
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        size = nal_length_size(stream.codec_context.extradata)
        units = [h264_access_unit(bytes(p), size) for p in container.demux(stream) if p.size]
    fresh, build = h264_fresh_starts(units)
    return sorted(fresh), build, [bool(u and u.idr) for u in units]


def test_fresh_starts_of_encoded_clips(clips) -> None:
    closed, build, idr = starts(clips["closed-gop-mp4"])
    assert closed[0] == 0 and len(closed) >= 6 and build > 100  # x264 names its build
    assert closed == [i for i, x in enumerate(idr) if x]
    opened, _, idr = starts(clips["open-gop-mp4"])
    assert opened == [0] and sum(idr) == 1  # recovery points, not IDR pictures
    in_band, _, idr = starts(clips["closed-gop-ts"])  # Annex B, SPS and PPS with every IDR
    assert len(in_band) >= 5 and in_band == [i for i, x in enumerate(idr) if x]


def test_fresh_start_rules() -> None:
    sps, pps, pps2 = b"\x67sps", b"\x68pps", b"\x68other"
    idr = AccessUnit(True, frozenset({sps, pps}), None)
    plain = AccessUnit(False, frozenset(), None)
    first = replace(idr, x264_build=164)
    assert h264_fresh_starts([first, plain, idr, plain]) == (frozenset({0, 2}), 164)
    # an IDR without the in-band parameter sets that another packet sends is no fresh start
    bare = AccessUnit(True, frozenset(), None)
    assert h264_fresh_starts([first, plain, bare, idr]) == (frozenset({0, 3}), 164)
    redefined = AccessUnit(False, frozenset({pps2}), None)
    assert h264_fresh_starts([first, redefined, idr])[0] == frozenset()
    # all from the extradata (nothing in-band): every IDR
    assert h264_fresh_starts([bare, plain, bare]) == (frozenset({0, 2}), -1)
    # x264 builds: one, named by the first packet, or no fresh start at all
    assert h264_fresh_starts([idr, plain, first])[0] == frozenset()
    assert h264_fresh_starts([first, replace(idr, x264_build=150)])[0] == frozenset()
    assert h264_fresh_starts([first, plain, None]) == (frozenset(), -1)  # unparsable framing


def test_access_unit_parsing() -> None:
    text = b"x264 - core 164 r3095 - H.264/MPEG-4 AVC codec"
    uuid = bytes.fromhex("dc45e9bde6d948b7962cd820d923eeef")
    sei = bytes([6, 5, 16 + len(text)]) + uuid + text + b"\x80"  # user data unregistered
    nals = [b"\x67\x64\x00\x1f", b"\x68\xeb", sei, b"\x65\x88\x84\x00"]
    avcc = b"".join(len(n).to_bytes(4, "big") + n for n in nals)
    annex_b = b"".join(b"\x00\x00\x00\x01" + n for n in nals)
    for data, size in ((avcc, 4), (annex_b, 0)):
        unit = h264_access_unit(data, size)
        assert unit == AccessUnit(True, frozenset(nals[:2]), 164)
    assert h264_access_unit(avcc[:-2], 4) is None  # a length running past the end
    assert h264_access_unit(avcc, 0) is None  # no start code first: not Annex B
    mixed = annex_b + b"\x00\x00\x01\x41\x9a"  # an IDR slice and another picture's slice
    assert h264_access_unit(mixed, 0) == AccessUnit(False, frozenset(nals[:2]), 164)
    assert h264_access_unit(b"\x00\x00\x00\x01\x41\x9a", 0) == AccessUnit(False, frozenset(), None)
    elsewhere = bytes([6, 4, 16 + len(text)]) + uuid + text + b"\x80"  # not user data
    assert h264_access_unit(b"\x00\x00\x01" + elsewhere, 0) == AccessUnit(False, frozenset(), None)
    assert nal_length_size(b"\x01\x64\x00\x1f\xff\xe1") == 0  # too short for avcC
    assert nal_length_size(b"\x01\x64\x00\x1f\xfd\xe1\x00") == 2
    assert nal_length_size(None) == 0


@pytest.mark.parametrize("name", ["x264-default-gop-mkv", "closed-gop-ts"])
@pytest.mark.parametrize("threads", [1, 2])
def test_prefix_in_segments(name, threads, clips) -> None:
    """A prefix (an HTTP range, a download cut short): the frames before the cut, as the exact
    pass gives them."""
    fmt = FORMATS[CLIPS[name][1]]
    cut = clips[name][: len(clips[name]) * 2 // 3]
    args = (cut, fmt, VideoLimits(threads=threads), 0.5, True, False, True, float("inf"))
    fast = video_decode._Pass(*args, fast=True).run()
    full = video_decode._Pass(*args, fast=False).run()
    assert fast.truncated and full.truncated
    assert 4 <= len(fast.frames) <= len(full.frames) < 12
    assert fast.frames == full.frames[: len(fast.frames)]


def test_a_bound_hit_in_a_worker_reaches_the_caller(clips, monkeypatch) -> None:
    """The time budget runs out while segments decode on other threads: the caller gets
    VideoTimeBudget (not the exact pass, which would decode on this thread and succeed)."""
    original = video_decode._Pass._check_time

    def runs_out_off_main(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise VideoTimeBudget("not decoded within 0 s")
        original(self)

    monkeypatch.setattr(video_decode._Pass, "_check_time", runs_out_off_main)
    with pytest.raises(VideoTimeBudget):
        video_signature(clips["closed-gop-mp4"], limits=VideoLimits(threads=2))
    assert len(video_signature(clips["closed-gop-mp4"], limits=VideoLimits(threads=1)).frames) == 6
