"""hashes.index: multi-index hashing returns exactly what the linear scan returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hashes.index import HammingIndex, linear_scan, to_hex, to_words

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pdq-reference"


def _random(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    return rng.integers(0, 2**64 - 1, (n, words), dtype=np.uint64, endpoint=True)


def _flip(rng: np.random.Generator, h: np.ndarray, k: int) -> np.ndarray:
    """A copy of h with exactly k distinct bits flipped."""
    out = h.copy()
    for b in rng.choice(out.size * 64, size=k, replace=False):
        out[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    return out


def _assert_same(index: HammingIndex, data: np.ndarray, queries: np.ndarray, radius: int) -> int:
    found = 0
    for q in queries:
        ids, d = index.search(q, radius)
        ref_ids, ref_d = linear_scan(data, q, radius)
        assert np.array_equal(ids, ref_ids) and np.array_equal(d, ref_d)
        found += len(ids)
    return found


def _clustered(rng: np.random.Generator, words: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    centres = _random(rng, 40, words)
    rows = [_flip(rng, c, int(k)) for c in centres for k in rng.integers(0, 2 * radius, 25)]
    data = np.vstack([np.array(rows), _random(rng, 3000, words)])
    queries = np.array([_flip(rng, c, radius // 2) for c in centres[:15]])
    return data, queries


@pytest.mark.parametrize("bits,radius", [(64, 8), (64, 10), (256, 31), (256, 20), (256, 45)])
def test_uniform_random(bits: int, radius: int) -> None:
    rng = np.random.default_rng(bits + radius)
    words = bits // 64
    data = _random(rng, 20000, words)
    queries = np.vstack([_flip(rng, data[i], int(rng.integers(0, radius + 3)))
                         for i in rng.integers(0, len(data), 20)] + [_random(rng, 5, words)])
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False)
    assert _assert_same(index, data, queries, radius) >= 15


@pytest.mark.parametrize("bits,radius", [(64, 8), (256, 31)])
def test_clustered_near_duplicates(bits: int, radius: int) -> None:
    rng = np.random.default_rng(7)
    data, queries = _clustered(rng, bits // 64, radius)
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False)
    assert _assert_same(index, data, queries, radius) > 100


@pytest.mark.parametrize("bits,radius", [(64, 8), (256, 31)])
def test_low_entropy_hashes(bits: int, radius: int) -> None:
    rng = np.random.default_rng(3)
    words = bits // 64
    # only a few bits ever set: huge buckets in every table
    sparse = np.zeros((5000, words), np.uint64)
    for row in sparse:
        row[:] = _flip(rng, row, int(rng.integers(0, 6)))
    ones = np.full((500, words), np.uint64(2**64 - 1))
    data = np.vstack([sparse, ones, _random(rng, 500, words)])
    queries = np.vstack([np.zeros((1, words), np.uint64), _flip(rng, data[3], 3), data[-1]])
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False)
    assert _assert_same(index, data, queries, radius) >= 5000


@pytest.mark.parametrize("bits,radius", [(64, 8), (256, 31)])
def test_exactly_at_radius(bits: int, radius: int) -> None:
    rng = np.random.default_rng(11)
    words = bits // 64
    q = _random(rng, 1, words)[0]
    at = np.array([_flip(rng, q, radius) for _ in range(50)])
    beyond = np.array([_flip(rng, q, radius + 1) for _ in range(50)])
    data = np.vstack([_random(rng, 2000, words), at, beyond])
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False)
    ids, d = index.search(q, radius)
    assert set(ids.tolist()) == set(range(2000, 2050)) and set(d.tolist()) == {radius}
    _assert_same(index, data, q[None, :], radius)


def test_incremental_adds_and_merge() -> None:
    rng = np.random.default_rng(5)
    data = _random(rng, 5000, 4)
    index = HammingIndex(256, merge_min=1000, scan_fallback=False)
    ids = index.add(data[:3000])
    assert ids.tolist() == list(range(3000)) and index.indexed == 3000  # merged: > merge_min
    index.add(data[3000:3500])
    assert index.indexed == 3000 and len(index) == 3500  # small batch: tail, no rebuild
    queries = np.vstack([_flip(rng, data[i], 10) for i in (5, 3100, 3499)])
    _assert_same(index, data[:3500], queries, 31)
    index.add([to_hex(h) for h in data[3500:]])
    assert len(index) == 5000
    _assert_same(index, data, queries, 31)


def test_save_and_load_memory_mapped(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    data = _random(rng, 4000, 1)
    index = HammingIndex.from_hashes(data[:3000], 64, scan_fallback=False)
    index.add(data[3000:3100])  # a tail that is saved too
    index.save(tmp_path / "idx")
    loaded = HammingIndex.load(tmp_path / "idx", scan_fallback=False)
    assert isinstance(loaded._ids, np.memmap) and len(loaded) == 3100
    queries = np.vstack([_flip(rng, data[i], 6) for i in (1, 2999, 3050)])
    _assert_same(loaded, data[:3100], queries, 8)
    loaded.add(data[3100:])
    _assert_same(loaded, data, queries, 8)


def test_small_index_scan_fallback_same_result() -> None:
    rng = np.random.default_rng(2)
    data = _random(rng, 500, 4)
    q = _flip(rng, data[7], 20)
    a = HammingIndex.from_hashes(data, 256).search(q, 31)
    b = HammingIndex.from_hashes(data, 256, scan_fallback=False).search(q, 31)
    assert np.array_equal(a[0], b[0]) and a[0].tolist() == [7]


def test_hex_round_trip_and_empty_index() -> None:
    h = "0123456789abcdef" * 4
    assert to_hex(to_words(h, 256)[0]) == h
    index = HammingIndex(64)
    ids, d = index.search("00000000000000ff", 8)
    assert len(ids) == 0 and len(d) == 0
    with pytest.raises(ValueError):
        to_words("abc", 64)


def _lines(name: str) -> list[str]:
    path = REFERENCE / name
    if not path.is_file():
        pytest.skip(f"PDQ reference data absent at {REFERENCE}")
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


@pytest.mark.parametrize("radius", [31, 63])
def test_reference_mih_needles_haystack(radius: int) -> None:
    haystack = to_words(_lines("mih-haystack.txt"), 256)
    needles = to_words(_lines("mih-needles.txt"), 256)
    index = HammingIndex.from_hashes(haystack, 256, scan_fallback=False)
    assert _assert_same(index, haystack, needles, radius) > 0
