"""Exact Hamming radius search by brute force, over hashes held as uint64 words.

A hash of 64 or 256 bits is a row of 1 or 4 uint64 words, most significant word first
(`to_words`, `to_hex`). `linear_scan` (XOR + popcount over every row) is the oracle that every
index answer must equal; `scan_batch` does the same for many queries at once, by blocks of rows.
Batch answers are `Hits`: (query number, id, distance) int64 arrays; `finish` merges several
into one, sorted by query, distance, id, with a (query, id) found more than once kept once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CHUNK = 1 << 20  # elements per block of a linear scan
Hits = tuple[np.ndarray, np.ndarray, np.ndarray]  # (query number, id, distance), int64 each


def words_of(bits: int) -> int:
    if bits not in (64, 256):
        raise ValueError(f"only 64-bit and 256-bit hashes are indexed, not {bits}")
    return bits // 64


def to_words(hexes: Sequence[str] | str, bits: int) -> np.ndarray:
    """Hex hashes -> (N, words) uint64, most significant word first."""
    w = words_of(bits)
    if isinstance(hexes, str):
        hexes = [hexes]
    text = "".join(hexes)
    if len(text) != len(hexes) * bits // 4:
        raise ValueError(f"every hash must have {bits // 4} hex digits")
    raw = np.frombuffer(bytes.fromhex(text), dtype=">u8")
    return raw.astype(np.uint64).reshape(-1, w)


def to_hex(words: np.ndarray) -> str:
    """One hash's words -> lowercase hex."""
    return np.asarray(words, dtype=np.uint64).astype(">u8").tobytes().hex()


def query_words(query: str | np.ndarray, w: int) -> np.ndarray:
    """One query (hex or words) as its `w` words."""
    q = to_words(query, w * 64)[0] if isinstance(query, str) else np.asarray(query, np.uint64)
    if q.shape != (w,):
        raise ValueError(f"query must be {w} words")
    return q


def _sorted_result(ids: np.ndarray, dists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((ids, dists))
    return ids[order].astype(np.int64), dists[order].astype(np.int64)


def linear_scan(
    hashes: np.ndarray, query: str | np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances) of all rows of `hashes` (N, words) within `radius`, by distance then id."""
    hashes = np.asarray(hashes, dtype=np.uint64).reshape(len(hashes), -1)
    q = query_words(query, hashes.shape[1])
    found_ids, found_d = [], []
    for start in range(0, len(hashes), CHUNK):
        block = hashes[start : start + CHUNK]
        d = np.bitwise_count(block ^ q).sum(axis=1, dtype=np.int64)
        hit = np.flatnonzero(d <= radius)
        found_ids.append(hit + start)
        found_d.append(d[hit])
    if not found_ids:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return _sorted_result(np.concatenate(found_ids), np.concatenate(found_d))


def empty() -> Hits:
    return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)


def scan_batch(hashes: np.ndarray, qs: np.ndarray, radius: int) -> Hits:
    """Every (query, row) within `radius`, by blocks of rows, word by word (unsorted)."""
    n, w = hashes.shape
    rows = max(1, CHUNK // max(1, len(qs)))
    parts = []
    for start in range(0, n, rows):
        block = np.asarray(hashes[start : start + rows])
        d = np.zeros((len(qs), len(block)), np.uint16)
        for j in range(w):
            d += np.bitwise_count(block[None, :, j] ^ qs[:, j, None])
        qi, hit = np.nonzero(d <= radius)
        parts.append((qi, hit + start, d[qi, hit]))
    if not parts:
        return empty()
    qi, ids, dist = (np.concatenate(p).astype(np.int64) for p in zip(*parts, strict=True))
    return qi, ids, dist


def finish(parts: list[Hits]) -> Hits:
    """Hits by query, distance, id; a (query, id) found through several tables once."""
    qi, ids, d = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((ids, d, qi))
    qi, ids, d = qi[order], ids[order], d[order]
    if len(qi) > 1:
        first = np.ones(len(qi), bool)
        first[1:] = (qi[1:] != qi[:-1]) | (ids[1:] != ids[:-1])
        qi, ids, d = qi[first], ids[first], d[first]
    return qi, ids, d
