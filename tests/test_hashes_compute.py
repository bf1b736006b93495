"""hashes.compute and hashes.pdq: hashes from bytes, PDQ identical to the pdqhash package."""

from __future__ import annotations

import csv
import struct
from io import BytesIO
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from hashes import synthetic
from hashes.compute import MIN_SIDE, MediaHashes, compute, hamming, phash_dhash
from hashes.pdq import luma_from_rgb, pdq_from_luma

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pdq-reference"
SIZES = [(320, 240), (240, 320), (333, 217), (100, 80), (129, 700), (64, 64), (7, 300), (513, 257)]


def _vec_hex(vec: np.ndarray) -> str:
    return np.packbits(vec.astype(bool)).tobytes().hex()


def test_pdq_bit_identical_to_pdqhash_on_same_luma() -> None:
    mismatches = []
    for seed in range(104):
        rgb = np.asarray(synthetic.image(seed, SIZES[seed % len(SIZES)]))
        ours, quality, _ = pdq_from_luma(luma_from_rgb(rgb), dihedral=False)
        vec, ref_quality = pdqhash.compute(rgb)
        if ours != _vec_hex(vec) or quality != ref_quality:
            mismatches.append(seed)
    assert mismatches == []


def test_pdq_dihedral_identical_to_pdqhash() -> None:
    for seed in range(8):
        rgb = np.asarray(synthetic.image(seed, SIZES[seed % len(SIZES)]))
        pdq, _, dihedral = pdq_from_luma(luma_from_rgb(rgb))
        vecs, _ = pdqhash.compute_dihedral(rgb)
        assert dihedral == tuple(_vec_hex(v) for v in vecs)
        assert dihedral[0] == pdq and len(set(dihedral)) == 8


def test_pdq_dihedral_hash_finds_rotated_image() -> None:
    img = synthetic.image(3, (400, 300))
    base = compute(synthetic.encode(img, "PNG"))
    for transpose in (Image.Transpose.ROTATE_90, Image.Transpose.FLIP_LEFT_RIGHT):
        other = compute(synthetic.encode(img.transpose(transpose), "PNG"))
        assert hamming(base.pdq, other.pdq) > 31
        assert min(hamming(v, other.pdq) for v in base.pdq_dihedral) <= 16


def test_compute_jpeg_fields() -> None:
    data = synthetic.jpeg(1)
    h = compute(data)
    assert isinstance(h, MediaHashes) and h.ok and h.error is None
    assert (h.format, h.width, h.height) == ("jpeg", 1024, 768)
    assert len(h.phash) == len(h.dhash) == len(h.phash_mirror) == 16
    assert len(h.pdq) == 64 and h.pdq == h.pdq.lower() and len(h.pdq_dihedral) == 8
    assert h.pdq_quality >= 80 and h.usable
    assert len(h.sha256) == 64 and len(h.sha1) == 40 and len(h.md5) == 32
    assert h.get("pdq") == h.pdq and h.get("nonsense") is None


def test_jpeg_fast_path_close_to_imagehash_default() -> None:
    dists = []
    for seed in range(30):
        data = synthetic.jpeg(seed, (640, 480))
        phash, dhash, _ = phash_dhash(data)
        ref = str(imagehash.phash(Image.open(BytesIO(data))))
        dists.append(hamming(phash, ref))
        assert hamming(dhash, str(imagehash.dhash(Image.open(BytesIO(data))))) <= 4
    assert max(dists) <= 4
    assert sum(d == 0 for d in dists) >= 0.8 * len(dists)


def test_jpeg_pdq_close_to_rgb_luma() -> None:
    for seed in range(10):
        data = synthetic.jpeg(seed, (640, 480), quality=90)
        rgb = np.asarray(Image.open(BytesIO(data)).convert("RGB"))
        ref, _ = pdqhash.compute(rgb)
        assert hamming(compute(data).pdq, _vec_hex(ref)) <= 10


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP", "GIF"])
def test_other_formats(fmt: str) -> None:
    img = synthetic.image(5, (300, 200))
    h = compute(synthetic.encode(img, fmt))
    assert h.ok and h.format == fmt.lower() and (h.width, h.height) == (300, 200)
    png = compute(synthetic.encode(img, "PNG"))
    assert hamming(h.pdq, png.pdq) <= (40 if fmt == "GIF" else 12)


def test_animated_gif_first_frame() -> None:
    frames = [synthetic.image(s, (200, 150)).convert("P") for s in (11, 12)]
    out = BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    h = compute(out.getvalue())
    first = compute(synthetic.encode(frames[0], "GIF"))
    second = compute(synthetic.encode(frames[1], "GIF"))
    assert h.ok and hamming(h.pdq, first.pdq) <= 8 < hamming(h.pdq, second.pdq)


def test_exif_orientation_applied() -> None:
    img = synthetic.image(7, (400, 300))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise for display
    tagged = BytesIO()
    img.save(tagged, "JPEG", quality=90, exif=exif.tobytes())
    upright = synthetic.encode(img.transpose(Image.Transpose.ROTATE_270), "JPEG", quality=90)
    a, b = compute(tagged.getvalue()), compute(upright)
    assert (a.width, a.height) == (300, 400)
    assert hamming(a.pdq, b.pdq) <= 10 and hamming(a.phash, b.phash) <= 10


@pytest.mark.parametrize("data", [b"", b"hello CANARY-4711", b"\xff\xd8\xff\xe0" + b"\x00" * 50,
                                  b"GIF89a" + b"\x01" * 30, b"\x89PNG\r\n\x1a\n" + b"x" * 40])
def test_not_an_image_never_raises(data: bytes) -> None:
    h = compute(data)
    assert not h.ok and not h.usable and h.phash is None and h.pdq is None
    assert h.error.startswith(("not an image", "corrupt image")), h.error
    assert "CANARY" not in h.error
    import hashlib
    assert h.sha256 == hashlib.sha256(data).hexdigest() and h.md5 == hashlib.md5(data).hexdigest()


def test_truncated_jpeg_is_corrupt() -> None:
    data = synthetic.jpeg(2)
    h = compute(data[: len(data) // 2])
    assert not h.ok and h.error.startswith("corrupt image")


def test_random_bytes_fuzz_never_raises() -> None:
    rng = np.random.default_rng(0)
    good = synthetic.encode(synthetic.image(4, (120, 90)), "PNG")
    for _ in range(60):
        data = bytearray(good)
        for pos in rng.integers(0, len(data), 8):
            data[pos] = int(rng.integers(0, 256))
        h = compute(bytes(data))
        assert h.ok or h.error


def test_pixel_limit() -> None:
    data = synthetic.encode(Image.new("L", (2000, 1000), 128), "PNG")
    h = compute(data, max_pixels=1_000_000)
    assert not h.ok and h.error.startswith("too many pixels")
    assert compute(data).ok


def test_decompression_bomb_header() -> None:
    # a GIF whose header claims 65535 x 65535 pixels
    data = (b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
            + b",\x00\x00\x00\x00" + struct.pack("<HH", 65535, 65535) + b"\x00\x02\x02D\x01\x00;")
    h = compute(data)
    assert not h.ok and h.error.startswith("too many pixels")


def test_small_and_flat_images_not_usable() -> None:
    small = compute(synthetic.encode(synthetic.image(1, (MIN_SIDE - 1, 200)), "PNG"))
    assert small.ok and not small.usable
    flat = compute(synthetic.encode(Image.new("RGB", (400, 300), (200, 30, 30)), "PNG"))
    assert flat.ok and flat.pdq_quality < 50 and not flat.usable


def test_hamming() -> None:
    assert hamming("00ff", "00fe") == 1 and hamming("ffff", "0000") == 16
    with pytest.raises(ValueError):
        hamming("00", "000")


def _reference_rows() -> list[tuple[str, str]]:
    if not (REFERENCE / "expected-cpp.csv").is_file():
        pytest.skip(f"PDQ reference data absent at {REFERENCE}")
    with open(REFERENCE / "expected-cpp.csv", newline="") as f:
        return [(row[0], row[1]) for row in csv.reader(f) if row]


def test_pdq_reference_conformance() -> None:
    rows = _reference_rows()
    checked = 0
    for expected, rel in rows:
        h = compute((REFERENCE / rel).read_bytes())
        assert h.ok, rel
        if h.pdq_quality >= 80:
            assert hamming(h.pdq, expected) <= 10, rel
            checked += 1
    assert checked >= 10


def test_pdq_reference_dihedral() -> None:
    rows = dict((rel, h) for h, rel in _reference_rows())
    variants = sorted(rel for rel in rows if rel.startswith("dih/"))
    h = compute((REFERENCE / "dih" / "bridge-1-original.jpg").read_bytes())
    assert len(variants) == 8
    for ours, rel in zip(h.pdq_dihedral, variants, strict=True):
        assert hamming(ours, rows[rel]) <= 10, rel


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "1", "L", "I;16"])
def test_png_modes(mode: str) -> None:
    img = synthetic.image(4, (200, 150))
    if mode == "I;16":
        grey = np.asarray(img.convert("L")).astype(np.uint16) * 257
        converted = Image.fromarray(grey)
    else:
        converted = img.convert(mode)
    h = compute(synthetic.encode(converted, "PNG"))
    assert h.ok and h.format == "png" and (h.width, h.height) == (200, 150)
    if mode != "1":
        assert hamming(h.pdq, compute(synthetic.encode(img, "PNG")).pdq) <= 16


def test_cmyk_jpeg() -> None:
    out = BytesIO()
    synthetic.image(4, (200, 150)).convert("CMYK").save(out, "JPEG", quality=90)
    h = compute(out.getvalue())
    assert h.ok and h.format == "jpeg" and h.usable
