"""The fast hashing paths give the same hashes as the reference libraries on the same input.

pHash/dHash: hashes._phash against imagehash on the same decoded image (JPEG draft decodes,
full decodes, and flat/symmetric images that take the tie fallback). PDQ: the prefix-sum band
plan against multiplied-out box matrices, and pdqhash on the same luma at odd sizes. JPEG's
Y-plane decode against luma from the RGB decode: the measured distance stays small.
"""

from __future__ import annotations

from io import BytesIO

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageOps

from hashes import _phash, synthetic
from hashes.compute import DRAFT_SIZE, compute, hamming, pdq_hash, phash_dhash
from hashes.pdq import _plan, jarosz_window, luma_from_rgb, pdq_from_luma

JPEG_SIZES = [
    (1024, 768),
    (640, 480),
    (333, 217),
    (100, 80),
    (129, 700),
    (64, 64),
    (513, 257),
    (1920, 1080),
    (300, 2000),
    (47, 33),
]


def _draft(data: bytes) -> Image.Image:
    img = Image.open(BytesIO(data))
    img.draft("L", DRAFT_SIZE)
    img.load()
    return img


def _imagehash_triple(img: Image.Image) -> tuple[str, str, str]:
    return (
        str(imagehash.phash(img)),
        str(imagehash.dhash(img)),
        str(imagehash.phash(ImageOps.mirror(img))),
    )


def _vec_hex(vec: np.ndarray) -> str:
    return np.packbits(vec.astype(bool)).tobytes().hex()


def test_phash_dhash_identical_to_imagehash_on_draft_decode() -> None:
    mismatches = []
    for seed in range(120):
        data = synthetic.jpeg(seed, JPEG_SIZES[seed % len(JPEG_SIZES)])
        if phash_dhash(data) != _imagehash_triple(_draft(data)):
            mismatches.append(seed)
    assert mismatches == []


def test_perceptual64_identical_to_imagehash_on_full_images() -> None:
    for seed in range(40):
        img = synthetic.image(seed, JPEG_SIZES[seed % len(JPEG_SIZES)])
        assert _phash.perceptual64(img) == _imagehash_triple(img), seed


def test_mirror_phash_commutes_with_downscaling() -> None:
    # the mirror pHash comes from the mirrored 32x32 input; it must equal imagehash on the
    # mirrored image for every input width (LANCZOS weights are symmetric)
    rng = np.random.default_rng(5)
    for width in [*range(1, 32, 5), *range(32, 420, 3)]:
        height = int(rng.integers(32, 420))
        img = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))
        assert _phash.perceptual64(img)[2] == str(imagehash.phash(ImageOps.mirror(img))), width


def _degenerate() -> list[Image.Image]:
    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    checker = (np.indices((64, 64)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)
    return [Image.new("L", (200, 100), v) for v in (0, 128, 255)] + [
        Image.fromarray(ramp),
        Image.fromarray(ramp.T.copy()),
        Image.fromarray(checker),
        Image.new("RGB", (50, 50), (10, 200, 30)),
    ]


def test_tie_fallback_gives_imagehash_result(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = imagehash.phash

    def counting(img: Image.Image, *args: object, **kwargs: object) -> imagehash.ImageHash:
        calls.append(img.size)
        return original(img, *args, **kwargs)

    for img in _degenerate():
        expected = (
            str(original(img)),
            str(imagehash.dhash(img)),
            str(original(ImageOps.mirror(img))),
        )
        monkeypatch.setattr(imagehash, "phash", counting)
        got = _phash.perceptual64(img)
        monkeypatch.setattr(imagehash, "phash", original)
        assert got == expected
    assert calls, "flat images must take the imagehash fallback"


def test_tie_fallback_not_taken_for_ordinary_images(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("fallback taken")

    monkeypatch.setattr(imagehash, "phash", refuse)
    for seed in range(10):
        assert len(phash_dhash(synthetic.jpeg(seed, (320, 240)))[0]) == 16


def _box_matrix(n: int, w: int) -> np.ndarray:
    """The reference's box1DFloat as an n x n matrix, row by row (slow and obvious)."""
    half = (w + 2) // 2
    v = np.zeros((n, n))
    for o in range(n):
        lo, hi = max(0, o - (w - half)), min(n, o + half)
        v[o, lo:hi] = 1.0 / (hi - lo)
    return v


@pytest.mark.parametrize(
    "n", [1, 2, 7, 63, 64, 65, 100, 127, 128, 129, 217, 333, 700, 768, 1024, 1080, 1500]
)
def test_band_plan_equals_multiplied_out_box_matrices(n: int) -> None:
    v = _box_matrix(n, jarosz_window(n))
    samples = [int(((i + 0.5) * n) / 64) for i in range(64)]
    expected = (v @ v)[samples].astype(np.float32)
    plan = _plan(n)
    got = np.zeros((64, n), dtype=np.float32)
    for i, s in enumerate(plan.starts):
        got[i, s : s + plan.width] = plan.weights[i]
    assert np.array_equal(got != 0, expected != 0)
    np.testing.assert_allclose(got, expected, rtol=2e-7, atol=0)
    for j0, a, b, dense in plan.blocks:  # the column-pass blocks hold the same map
        np.testing.assert_array_equal(dense.T, got[j0 : j0 + dense.shape[1], a:b])


def test_pdq_identical_to_pdqhash_at_odd_and_large_sizes() -> None:
    # (flat images are left out: their DCT is rounding noise in both implementations)
    rng = np.random.default_rng(3)
    for size in [(2000, 40), (37, 1900), (4000, 65), (65, 65), (5, 9), (3, 200), (1537, 1025)]:
        base = np.asarray(synthetic.image(int(rng.integers(0, 1000)), (64, 64)))
        rgb = np.asarray(Image.fromarray(base).resize(size, Image.Resampling.BICUBIC))
        ours, quality, dihedral = pdq_from_luma(luma_from_rgb(rgb))
        vecs, ref_quality = pdqhash.compute_dihedral(rgb)
        assert (ours, quality) == (_vec_hex(vecs[0]), ref_quality), size
        assert dihedral == tuple(_vec_hex(v) for v in vecs), size


def test_jpeg_y_plane_pdq_close_to_rgb_luma_pdq() -> None:
    # PDQ of a JPEG decodes straight to the Y plane (no colour conversion); the pdqhash
    # reference takes luma of the decoded RGB. Measured on 100 images: 72 identical, max 4.
    dists = []
    for seed in range(30):
        data = synthetic.jpeg(seed)
        rgb = np.asarray(Image.open(BytesIO(data)).convert("RGB"))
        dists.append(hamming(pdq_hash(data)[0], _vec_hex(pdqhash.compute(rgb)[0])))
    assert np.median(dists) <= 1 and max(dists) <= 8, dists


def test_compute_agrees_with_the_single_hash_entry_points() -> None:
    for seed, fmt in ((1, "JPEG"), (2, "PNG"), (3, "WEBP")):
        data = synthetic.encode(synthetic.image(seed, (400, 300)), fmt)
        h = compute(data)
        assert (h.phash, h.dhash, h.phash_mirror) == phash_dhash(data)
        assert (h.pdq, h.pdq_quality, h.pdq_dihedral) == pdq_hash(data)


def test_png_hashes_equal_reference_libraries() -> None:
    img = synthetic.image(8, (500, 375))
    h = compute(synthetic.encode(img, "PNG"))
    assert (h.phash, h.dhash, h.phash_mirror) == _imagehash_triple(img)
    vec, quality = pdqhash.compute(np.asarray(img))
    assert (h.pdq, h.pdq_quality) == (_vec_hex(vec), quality)
