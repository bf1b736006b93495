"""Video signatures (vPDQ) from bytes in memory, their bounds, truncated input, matching, the
video index, and conformance with Meta's `vpdq` package on generated benign clips.

The conformance tests need the `vpdq` package (a test extra built from source); they are
skipped without it unless NTD_REQUIRE_VPDQ=1, which makes its absence a failure. Clips are made
by tests.video_fixtures (moving shapes on drifting colour fields, grain, scene cuts); the vpdq
package reads only files, so those tests write the generated clip to tmp_path.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from hashes import video_decode
from hashes.video import (
    FrameHash,
    NotVideo,
    VideoLimits,
    VideoSignature,
    VideoTimeBudget,
    VideoTooLarge,
    VideoTruncated,
    VideoUndecodable,
    compute_video,
    frames_from_text,
    looks_like_video,
    sniff_container,
    video_signature,
)
from hashes.video_border import content_box
from hashes.vpdq_match import MatchThresholds, VideoIndex, match
from tests import video_fixtures as vf

BASELINE_SPH = 0.25  # the reported video is hashed 4 times a second, re-uploads once a second


def ham(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def base() -> bytes:
    return vf.clip(11, seconds=6, fps=15)


@pytest.fixture(scope="module")
def base_sig(base: bytes):
    return video_signature(base)


# -- what the bytes are ----------------------------------------------------------------------


def test_sniff_containers(base: bytes) -> None:
    frames = list(vf.frames(1, (64, 48), seconds=0.4, fps=10))
    assert sniff_container(base) == "mov"
    assert sniff_container(vf.encode(frames, 10, container="matroska")) == "matroska"
    assert sniff_container(vf.encode(frames, 10, container="mpegts")) == "mpegts"
    assert sniff_container(vf.encode(frames, 10, container="avi", codec="mpeg4", crf=None)) == "avi"
    assert (
        sniff_container(vf.encode(frames, 10, container="webm", codec="libvpx-vp9", crf=None))
        == "matroska"
    )
    for data in (
        b"",
        b"\xff\xd8\xff\xe0" + bytes(64),
        b"\x89PNG\r\n\x1a\n" + bytes(64),
        b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://127.0.0.1/x.ts\n",
        b"<html></html>",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
        vf.garbage(),
    ):
        assert not looks_like_video(data)


# -- signatures ------------------------------------------------------------------------------


def test_signature_deterministic_and_sampled(base: bytes, base_sig) -> None:
    again = video_signature(base)
    assert again == base_sig
    assert base_sig.frame_rate == 15 and base_sig.frame_count == 90
    assert [f.frame for f in base_sig.frames] == [0, 15, 30, 45, 60, 75]
    assert [f.timestamp for f in base_sig.frames] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert not base_sig.truncated and base_sig.codec == "h264"
    assert all(len(f.pdq) == 64 and 0 <= f.quality <= 100 for f in base_sig.frames)
    assert len({f.pdq for f in base_sig.frames}) == 6  # scene cuts and motion: all distinct
    dense = video_signature(base, seconds_per_hash=0)
    assert [f.frame for f in dense.frames] == list(range(90))


def test_fast_pass_numbers_frames_as_the_exact_pass() -> None:
    """The fast pass skips frames nothing refers to; numbering and hashes stay the reference's
    (a clip with B-frames, so that there is something to skip)."""
    data = vf.clip(12, seconds=5, fps=24, preset="medium")
    fast = video_signature(data)
    args = (data, "mov", VideoLimits(), 1.0, False, False, True, float("inf"))
    exact = video_decode._Pass(*args, fast=False).run()
    assert fast.frames_skipped > 0 and exact.frames_skipped == 0
    assert replace(fast, frames_skipped=0) == exact and len(fast.frames) == 5


def test_exact_and_fast_luma_agree(base: bytes, base_sig) -> None:
    exact = video_signature(base, exact=True)
    assert [f.frame for f in exact.frames] == [f.frame for f in base_sig.frames]
    assert max(ham(a.pdq, b.pdq) for a, b in zip(exact.frames, base_sig.frames, strict=True)) <= 10


def test_text_round_trip(base_sig) -> None:
    plain = tuple(replace(f, inner_pdq=None, inner_quality=0) for f in base_sig.frames)
    back = frames_from_text(base_sig.to_text())
    assert [(f.frame, f.quality, f.pdq) for f in back] == [
        (f.frame, f.quality, f.pdq) for f in plain
    ]
    with pytest.raises(ValueError, match="line 1"):
        frames_from_text("0,100,nothex,0.0")


# -- bounds and errors -----------------------------------------------------------------------


def test_bounds_raise(base: bytes) -> None:
    with pytest.raises(VideoTooLarge, match="> 2 s"):
        video_signature(base, limits=VideoLimits(max_duration=2))
    with pytest.raises(VideoTooLarge, match="frames"):
        video_signature(base, limits=VideoLimits(max_frames=20))
    with pytest.raises(VideoTooLarge, match="pixels"):
        video_signature(base, limits=VideoLimits(max_pixels=100 * 100))
    with pytest.raises(VideoTimeBudget):
        video_signature(base, limits=VideoLimits(time_budget=0.0))


def test_duration_bound_without_declared_duration() -> None:
    """Live Matroska declares no duration: the bound holds while decoding."""
    data = vf.clip(
        13, (96, 72), seconds=5, fps=10, container="matroska", muxer_options={"live": "1"}
    )
    assert video_signature(data).duration is None
    with pytest.raises(VideoTooLarge, match="longer than 2 s"):
        video_signature(data, limits=VideoLimits(max_duration=2))


def test_bad_input_raises_undecodable() -> None:
    with pytest.raises(NotVideo):
        video_signature(vf.garbage())
    fake = b"\x00\x00\x00\x20ftypisom" + vf.garbage(4000)
    with pytest.raises(VideoUndecodable):
        video_signature(fake)
    with pytest.raises(VideoUndecodable):  # a container with no video in it
        video_signature(b"\x1a\x45\xdf\xa3" + vf.garbage(2000))


def test_compute_video_never_raises_and_never_quotes_input(base: bytes) -> None:
    canary = b"CANARY-7f3a" * 50
    for data, kind in (
        (canary, "not_video"),
        (b"\x00\x00\x00\x20ftypisom" + canary, "undecodable"),
        (base, "too_large"),
    ):
        res = compute_video(data, limits=VideoLimits(max_duration=2))
        assert not res.ok and res.error_kind == kind and res.signature is None
        assert "CANARY" not in (res.error or "") and len(res.sha256) == 64
    ok = compute_video(base)
    assert ok.ok and ok.signature is not None and len(ok.signature.frames) == 6


# -- truncated input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"layout": "fragmented"}, {"container": "matroska"}],
    ids=["mp4-faststart", "mp4-fragmented", "matroska"],
)
def test_prefix_gives_the_frames_before_the_cut(options: dict) -> None:
    data = vf.encode(vf.frames(14, seconds=6, fps=15), 15, **options)
    full = video_signature(data)
    assert not full.truncated and len(full.frames) == 6
    cut = video_signature(data[: len(data) // 2], partial=True)
    assert cut.truncated
    assert 0 < len(cut.frames) < len(full.frames)
    assert cut.frames == full.frames[: len(cut.frames)]


def test_prefix_cut_inside_a_fragment_index() -> None:
    """A cut inside a fragment's index (moof) would make the whole MP4 unreadable: the prefix
    is read up to the last whole box."""
    data = vf.encode(vf.frames(16, seconds=6, fps=15), 15, layout="fragmented")
    full = video_signature(data)
    moofs = [i - 4 for i in range(len(data)) if data[i : i + 4] == b"moof"]
    assert len(moofs) >= 2
    last = moofs[-1]
    end = last + int.from_bytes(data[last : last + 4], "big")
    cut = video_signature(data[: end - 10], partial=True)  # inside its track run (trun)
    assert cut.truncated and 0 < len(cut.frames) < len(full.frames)
    assert cut.frames == full.frames[: len(cut.frames)]


def test_cut_short_file_is_marked_truncated(base: bytes, base_sig) -> None:
    cut = video_signature(base[: len(base) * 2 // 3])  # not announced as partial
    assert cut.truncated and cut.frames == base_sig.frames[: len(cut.frames)]


def test_prefix_without_index_raises_truncated() -> None:
    data = vf.encode(vf.frames(15, (96, 72), seconds=3, fps=10), 10, layout="end")
    assert len(video_signature(data).frames) == 3
    with pytest.raises(VideoTruncated):
        video_signature(data[: len(data) // 2], partial=True)


# -- borders ---------------------------------------------------------------------------------


def test_content_box_finds_uniform_borders() -> None:
    rng = np.random.default_rng(0)
    pic = rng.uniform(0, 255, (200, 300)).astype(np.float32)
    framed = np.full((260, 400), 16.0, np.float32)
    framed[30:230, 50:350] = pic
    t, b, lft, r = content_box(framed)  # type: ignore[misc]
    assert abs(t - 30) <= 2 and abs(b - 230) <= 2 and abs(lft - 50) <= 2 and abs(r - 350) <= 2
    bars = np.full((300, 300), 0.0, np.float32)
    bars[60:240] = pic[:180, :]
    assert content_box(bars) is not None and content_box(bars)[2:] == (0, 300)  # type: ignore
    assert content_box(pic) is None
    assert content_box(np.full((100, 100), 40.0, np.float32)) is None


# -- matching --------------------------------------------------------------------------------

VARIANTS: dict[str, dict[str, Any]] = {
    "bitrate": {"bitrate": 60_000, "crf": None},
    "resized": {"scale": 0.6},
    "trimmed": {"trim_start": 1.4, "trim_end": 1.0},
    "border": {"border": 0.1},
    "white-border-upscaled": {"border": 0.12, "border_colour": (255, 255, 255), "scale": 1.5},
}


@pytest.fixture(scope="module")
def sources() -> dict[int, bytes]:
    return {seed: vf.clip(seed, seconds=7, fps=15) for seed in (21, 22, 23)}


@pytest.fixture(scope="module")
def baselines(sources: dict[int, bytes]) -> dict[int, VideoSignature]:
    return {
        seed: video_signature(data, seconds_per_hash=BASELINE_SPH) for seed, data in sources.items()
    }


@pytest.fixture(scope="module")
def unrelated() -> list[VideoSignature]:
    return [video_signature(vf.clip(s, seconds=5, fps=15)) for s in (31, 32)]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_match_their_source_only(name: str, sources, baselines, unrelated) -> None:
    for seed, data in sources.items():
        query = video_signature(vf.variant(data, **VARIANTS[name]))
        found = match(query, baselines[seed])
        assert found.is_match, (seed, found)
        for other_seed, other in baselines.items():
            if other_seed != seed:
                assert not match(query, other).is_match
        for other in unrelated:
            assert match(other, baselines[seed]).query_percent == 0.0


def test_border_needs_the_inner_hash(sources, baselines) -> None:
    query = video_signature(vf.variant(sources[21], border=0.1))
    assert match(query, baselines[21]).is_match
    assert not match(query, baselines[21], borders=False).is_match


def test_match_percentages_by_the_reference_rule() -> None:
    def frame(pdq: str, quality: int = 90, n: int = 0) -> FrameHash:
        return FrameHash(pdq, quality, n, float(n))

    a, b, c = "0" * 64, "f" * 64, "0" * 56 + "ffffffff"  # c is 32 bits from a
    close = "0" * 60 + "7fff"  # 15 bits from a
    query = [frame(a), frame(a, n=1), frame(b), frame("1" * 64, quality=10)]
    target = [frame(close), frame(c), frame("3" * 64)]
    m = match(query, target)  # unique, filtered query: a, b -> a matched
    assert (m.query_percent, m.target_percent) == (50.0, 100.0 / 3)
    assert not m.is_match
    assert match(query, target, MatchThresholds(distance=32)).target_percent == 200.0 / 3
    assert match(query, target, MatchThresholds(query_percent=50)).is_match
    assert match([frame(a, quality=20)], target).query_percent == 0.0


def test_match_in_blocks_is_the_same(sources, baselines, monkeypatch) -> None:
    from hashes import vpdq_match

    query = video_signature(vf.variant(sources[23], trim_start=1.0))
    whole = match(query, baselines[23])
    monkeypatch.setattr(vpdq_match, "_BLOCK", 5)
    assert match(query, baselines[23]) == whole and whole.is_match is True


def test_index_equals_brute_force(sources, baselines) -> None:
    index = VideoIndex()
    videos: dict[str, VideoSignature | list[FrameHash]] = {}
    for seed, sig in baselines.items():
        videos[f"base{seed}"] = sig
    randoms: list[list[FrameHash]] = []
    rng = np.random.default_rng(5)
    for k in range(40):  # random frame sets, some sharing frames with the clips
        frames = [
            FrameHash(
                bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex(),
                int(rng.integers(30, 101)),
                i,
                float(i),
            )
            for i in range(12)
        ]
        if k % 4 == 0:
            frames[:5] = baselines[21].frames[k % 7 : k % 7 + 5]
        videos[f"random{k}"] = frames
        randoms.append(frames)
    index.add_many(videos.items())
    queries: list[VideoSignature | list[FrameHash]] = [
        video_signature(vf.variant(sources[21], **VARIANTS[n])) for n in VARIANTS
    ]
    queries += [baselines[22], randoms[8][:8]]
    for query in queries:
        got = {
            c.video_id: (c.query_percent, c.target_percent, c.is_match) for c in index.search(query)
        }
        for vid, sig in videos.items():
            brute = match(query, sig)
            if brute.query_percent == 0:
                assert vid not in got
            else:
                assert got[vid] == pytest.approx(
                    (brute.query_percent, brute.target_percent, brute.is_match)
                ), vid
    assert index.search(queries[0])[0].video_id == "base21"


# -- conformance with Meta's vpdq package ------------------------------------------------------


def _vpdq():
    if os.environ.get("NTD_REQUIRE_VPDQ") == "1":
        import vpdq  # noqa: PLC0415 - must be installed: fail here when it is not

        return vpdq
    return pytest.importorskip("vpdq")


def _reference(vpdq, data: bytes, path, seconds_per_hash: float = 1.0) -> list[FrameHash]:
    path.write_bytes(data)  # the package reads files only; a generated clip in tmp_path
    return [
        FrameHash(f.hex, f.quality, f.frame_number, f.timestamp)
        for f in vpdq.computeHash(str(path), seconds_per_hash=seconds_per_hash)
    ]


CONFORMANCE_CLIPS: dict[str, dict[str, Any]] = {
    "h264-mp4": {},
    "h264-bframes": {"preset": "medium"},
    "vp9-webm": {"container": "webm", "codec": "libvpx-vp9", "crf": None, "bitrate": 300_000},
    "mpeg4-avi": {"container": "avi", "codec": "mpeg4", "crf": None, "bitrate": 400_000},
}


@pytest.mark.parametrize("name", list(CONFORMANCE_CLIPS))
def test_frame_hashes_agree_with_vpdq(name: str, tmp_path) -> None:
    vpdq = _vpdq()
    data = vf.encode(vf.frames(41, seconds=5, fps=24, cut_every=2.0), 24, **CONFORMANCE_CLIPS[name])
    for sph in (1.0, 0.0):
        ref = _reference(vpdq, data, tmp_path / "clip.bin", sph)
        ours = video_signature(data, seconds_per_hash=sph)
        exact = video_signature(data, seconds_per_hash=sph, exact=True)
        assert len(ref) == len(ours.frames) == (5 if sph else 120)
        for r, f, e in zip(ref, ours.frames, exact.frames, strict=True):
            assert (f.frame, e.frame) == (r.frame, r.frame)
            assert f.timestamp == pytest.approx(r.timestamp, abs=1e-6)
            if r.quality >= 80:
                assert ham(f.pdq, r.pdq) <= 10
            assert ham(e.pdq, r.pdq) <= 2  # through RGB as the reference: equal in practice
            assert abs(f.quality - r.quality) <= 2


def test_match_verdicts_agree_with_vpdq(sources, tmp_path) -> None:
    vpdq = _vpdq()
    plain = MatchThresholds()
    clips = {"source": sources[22]}
    for n in ("bitrate", "resized", "trimmed", "border"):
        clips[n] = vf.variant(sources[22], **VARIANTS[n])
    clips["unrelated"] = sources[23]
    theirs = {n: _reference(vpdq, d, tmp_path / f"{n}.bin") for n, d in clips.items()}
    ours = {n: video_signature(d) for n, d in clips.items()}
    verdicts = []
    for n in clips:
        for target in ("source", "unrelated"):
            a = match(ours[n], ours[target], plain, borders=False)
            b = match(theirs[n], theirs[target], plain, borders=False)
            assert a.is_match == b.is_match, (n, target, a, b)
            verdicts.append(a.is_match)
    assert any(verdicts) and not all(verdicts)
