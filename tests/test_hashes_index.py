"""hashes.index: multi-index hashing returns exactly what the linear scan returns, query by
query and in batches, with either layout (21/21/22-bit or 16-bit parts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hashes.index as hi
from hashes.index import PARTS, PARTS_16, HammingIndex, linear_scan, to_hex, to_words

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pdq-reference"


def _random(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    return rng.integers(0, 2**64 - 1, (n, words), dtype=np.uint64, endpoint=True)


def _flip(rng: np.random.Generator, h: np.ndarray, k: int) -> np.ndarray:
    """A copy of h with exactly k distinct bits flipped."""
    out = h.copy()
    for b in rng.choice(out.size * 64, size=k, replace=False):
        out[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    return out


LAYOUTS = pytest.mark.parametrize("parts", [PARTS, PARTS_16], ids=["p21", "p16"])


def _assert_same(index: HammingIndex, data: np.ndarray, queries: np.ndarray, radius: int) -> int:
    """Each query alone, and all of them as one batch, give exactly the linear scan's result."""
    found = 0
    expected = [linear_scan(data, q, radius) for q in queries]
    for q, (ref_ids, ref_d) in zip(queries, expected, strict=True):
        ids, d = index.search(q, radius)
        assert np.array_equal(ids, ref_ids) and np.array_equal(d, ref_d)
        found += len(ids)
    qi, ids, d = index.search_batch(queries, radius)
    assert np.array_equal(qi, np.repeat(np.arange(len(queries)), [len(e[0]) for e in expected]))
    if expected:
        assert np.array_equal(ids, np.concatenate([e[0] for e in expected]))
        assert np.array_equal(d, np.concatenate([e[1] for e in expected]))
    return found


def _clustered(rng: np.random.Generator, words: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    centres = _random(rng, 40, words)
    rows = [_flip(rng, c, int(k)) for c in centres for k in rng.integers(0, 2 * radius, 25)]
    data = np.vstack([np.array(rows), _random(rng, 3000, words)])
    queries = np.array([_flip(rng, c, radius // 2) for c in centres[:15]])
    return data, queries


@LAYOUTS
@pytest.mark.parametrize("bits,radius", [(64, 8), (64, 10), (256, 31), (256, 20), (256, 45)])
def test_uniform_random(bits: int, radius: int, parts) -> None:
    rng = np.random.default_rng(bits + radius)
    words = bits // 64
    data = _random(rng, 20000, words)
    queries = np.vstack(
        [
            _flip(rng, data[i], int(rng.integers(0, radius + 3)))
            for i in rng.integers(0, len(data), 20)
        ]
        + [_random(rng, 5, words)]
    )
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False, parts=parts)
    assert _assert_same(index, data, queries, radius) >= 15


@LAYOUTS
@pytest.mark.parametrize("bits,radius", [(64, 8), (64, 10), (256, 31)])
def test_clustered_near_duplicates(bits: int, radius: int, parts) -> None:
    rng = np.random.default_rng(7)
    data, queries = _clustered(rng, bits // 64, radius)
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False, parts=parts)
    assert _assert_same(index, data, queries, radius) > 100


@LAYOUTS
@pytest.mark.parametrize("bits,radius", [(64, 8), (64, 10), (256, 31)])
def test_low_entropy_hashes(bits: int, radius: int, parts) -> None:
    rng = np.random.default_rng(3)
    words = bits // 64
    # only a few bits ever set: huge buckets in every table
    sparse = np.zeros((5000, words), np.uint64)
    for row in sparse:
        row[:] = _flip(rng, row, int(rng.integers(0, 6)))
    ones = np.full((500, words), np.uint64(2**64 - 1))
    data = np.vstack([sparse, ones, _random(rng, 500, words)])
    queries = np.vstack([np.zeros((1, words), np.uint64), _flip(rng, data[3], 3), data[-1]])
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False, parts=parts)
    assert _assert_same(index, data, queries, radius) >= 5000


@LAYOUTS
@pytest.mark.parametrize("bits,radius", [(64, 8), (64, 10), (256, 31)])
def test_exactly_at_radius(bits: int, radius: int, parts) -> None:
    rng = np.random.default_rng(11)
    words = bits // 64
    q = _random(rng, 1, words)[0]
    at = np.array([_flip(rng, q, radius) for _ in range(50)])
    beyond = np.array([_flip(rng, q, radius + 1) for _ in range(50)])
    data = np.vstack([_random(rng, 2000, words), at, beyond])
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False, parts=parts)
    ids, d = index.search(q, radius)
    assert set(ids.tolist()) == set(range(2000, 2050)) and set(d.tolist()) == {radius}
    _assert_same(index, data, np.vstack([q, at[:5], beyond[:5]]), radius)


def _flip_in(
    rng: np.random.Generator, h: np.ndarray, word: int, lo: int, hi_: int, k: int
) -> np.ndarray:
    """A copy of h with k distinct bits flipped, all in bits lo..hi_-1 of one word."""
    out = h.copy()
    for b in rng.choice(np.arange(lo, hi_), size=k, replace=False):
        out[word] ^= np.uint64(1) << np.uint64(b)
    return out


@LAYOUTS
@pytest.mark.parametrize("bits,radius", [(64, 8), (64, 10), (256, 31)])
def test_distance_packed_into_one_region(bits: int, radius: int, parts) -> None:
    """Differences crowded into one part, one sketch, one word, or split evenly at the
    pigeonhole's edge: the in-bucket sketch check must never drop a true hit."""
    rng = np.random.default_rng(13)
    words = bits // 64
    q = _random(rng, 1, words)[0]
    rows = []
    for k in range(radius - 3, radius + 2):
        for lo, hi_ in ((0, 16), (16, 48), (32, 64), (0, 64), (43, 64), (0, 22)):
            for w in range(words):
                rows.append(_flip_in(rng, q, w, lo, hi_, min(k, hi_ - lo)))
    for _ in range(30):  # exactly radius bits spread evenly over words and parts
        rows.append(_flip(rng, q, radius))
    data = np.vstack([_random(rng, 3000, words), np.array(rows)])
    index = HammingIndex.from_hashes(data, bits, scan_fallback=False, parts=parts)
    assert _assert_same(index, data, np.vstack([q, data[3000:3010]]), radius) > len(rows) // 2


def test_batch_shapes_duplicates_and_order() -> None:
    rng = np.random.default_rng(17)
    data = _random(rng, 6000, 4)
    index = HammingIndex.from_hashes(data, 256, radius=31)
    q = _flip(rng, data[9], 12)
    qs = np.vstack([q, q, _random(rng, 1, 4)[0], data[9]])
    qi, ids, d = index.search_batch(qs, 31)
    assert qi.tolist() == [0, 1, 3] and ids.tolist() == [9, 9, 9] and d.tolist() == [12, 12, 0]
    assert [len(x[0]) for x in index.search_many(qs, 31)] == [1, 1, 0, 1]
    assert [len(a) for a in index.search_batch(np.empty((0, 4), np.uint64), 31)] == [0, 0, 0]
    hexes = [to_hex(x) for x in qs]
    assert all(
        np.array_equal(a, b)
        for a, b in zip(index.search_batch(hexes, 31), (qi, ids, d), strict=True)
    )
    assert len(index.search_batch(qs, -1)[0]) == 0


def test_batch_split_and_chunked_passes(monkeypatch) -> None:
    """Batches cut into passes (few probes, few candidates per pass) give the same hits."""
    rng = np.random.default_rng(19)
    data = np.vstack([np.zeros((3000, 4), np.uint64), _random(rng, 3000, 4)])
    queries = np.vstack(
        [np.zeros((2, 4), np.uint64), _flip(rng, data[4000], 20), _random(rng, 5, 4)]
    )
    index = HammingIndex.from_hashes(data, 256, scan_fallback=False, parts=PARTS_16)
    monkeypatch.setattr(hi, "_PROBES", 100)
    monkeypatch.setattr(hi, "_CANDIDATES", 1000)
    assert _assert_same(index, data, queries, 31) >= 6001


def test_layout_follows_size_and_radius() -> None:
    rng = np.random.default_rng(23)
    assert HammingIndex.from_hashes(_random(rng, 5000, 4), 256, radius=31)._parts == PARTS_16
    assert HammingIndex.from_hashes(_random(rng, 5000, 1), 64, radius=8)._parts == PARTS
    assert HammingIndex.from_hashes(_random(rng, 5000, 4), 256)._parts == PARTS
    assert hi._layout(10_000_000, 4, 31) == PARTS and hi._layout(1_000_000, 4, 31) == PARTS_16


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


def test_long_tail_is_indexed_at_the_next_search() -> None:
    rng = np.random.default_rng(29)
    data = _random(rng, 20000, 4)
    index = HammingIndex(256, radius=31)
    index.add(data[:100])
    index.add(data[100:])  # 19900 <= merge_min: stays in the tail
    assert index.indexed == 0 and len(index) == 20000
    queries = np.vstack([_flip(rng, data[i], 9) for i in (0, 150, 19999)])
    assert _assert_same(index, data, queries, 31) == 3
    assert index.indexed == 20000


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


def test_load_keeps_layout_and_rebuilds_format_1(tmp_path: Path) -> None:
    import json

    rng = np.random.default_rng(31)
    data = _random(rng, 3000, 4)
    HammingIndex.from_hashes(data, 256, parts=PARTS_16).save(tmp_path / "a")
    loaded = HammingIndex.load(tmp_path / "a")
    assert loaded._parts == PARTS_16
    queries = np.vstack([_flip(rng, data[i], 25) for i in (3, 2999)])
    _assert_same(loaded, data, queries, 31)
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())  # an index of format 1
    meta["format"] = 1
    del meta["parts"]
    (tmp_path / "a" / "meta.json").write_text(json.dumps(meta))
    np.save(tmp_path / "a" / "ids.npy", np.zeros(5, np.uint32))
    old = HammingIndex.load(tmp_path / "a", scan_fallback=False)
    assert old._ids.dtype == np.uint64 and len(old) == 3000
    _assert_same(old, data, queries, 31)


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
