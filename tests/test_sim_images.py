"""Generated images: deterministic, decodable, far apart; transforms stay close."""

from __future__ import annotations

import io
import itertools

import imagehash
import pytest
from PIL import Image

from monitor.sim import images


def ph(data: bytes):
    return imagehash.phash(Image.open(io.BytesIO(data)).convert("RGB"))


def test_deterministic_by_seed():
    assert images.render(42) == images.render(42)
    assert images.render(42) != images.render(43)


@pytest.mark.parametrize("fmt", images.FORMATS)
def test_every_format_decodes_and_carries_a_canary(fmt):
    data = images.render(5, fmt, canary=b"CANARY-0123456789")
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.format.lower() == ("jpeg" if fmt == "jpeg" else fmt)
    assert b"CANARY-0123456789" in data
    assert b"CANARY" not in images.render(5, fmt)


def test_different_seeds_are_not_near_duplicates():
    hashes = [ph(images.render(seed)) for seed in range(60)]
    assert min(a - b for a, b in itertools.combinations(hashes, 2)) > 10


@pytest.mark.parametrize("kind", ["reencode", "resize", "crop", "border"])
def test_transforms_stay_perceptually_close(kind):
    distances = []
    for seed in range(20):
        copy = images.render_transformed(seed, kind, "jpeg")
        assert copy != images.render(seed)
        distances.append(ph(copy) - ph(images.render(seed)))
    assert sum(d <= 10 for d in distances) >= 18  # mild, like real re-uploads


def test_mirror_changes_the_phash_but_keeps_the_size():
    copy = images.render_transformed(9, "mirror", "png")
    assert Image.open(io.BytesIO(copy)).size == images.draw(9).size
    assert ph(copy) - ph(images.render(9)) > 10


def test_placeholder_is_far_from_items():
    placeholder = ph(images.placeholder("Example"))
    assert all(placeholder - ph(images.render(s)) > 10 for s in range(20))


def test_bomb_is_tiny_and_declares_huge_dimensions():
    data = images.bomb()
    assert len(data) < 4096
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))


def test_corrupt_bytes_do_not_decode():
    for seed in range(5):
        with pytest.raises(OSError):
            Image.open(io.BytesIO(images.corrupt(seed))).load()


def test_unknown_format_and_transform_are_refused():
    with pytest.raises(ValueError):
        images.encode(images.draw(1), "bmp")
    with pytest.raises(ValueError):
        images.transform(images.draw(1), "rotate")
