"""Exact radius search under Hamming distance for 64-bit and 256-bit hashes.

Two searches that must return the same thing:
- `linear_scan`: XOR + popcount over every stored hash (numpy); the oracle.
- `HammingIndex.search`: multi-index hashing. Each 64-bit word is cut into 3 parts (21, 21 and
  22 bits), so a 256-bit hash has 12 parts and a 64-bit hash 3. By pigeonhole, a hash within r
  bits of the query has some word within floor(r / words) bits, and in that word some part
  within floor(floor(r / words) / 3) bits. For every part we keep a table: the ids sorted by the
  part's value (its top `key_bits` bits; buckets are contiguous slices of one array), and a
  direct offsets array giving each bucket's start. A query enumerates the part values within
  that small radius, reads those buckets, keeps candidates whose word is within the word radius,
  and checks the full distance. New hashes go to an unindexed tail that is scanned linearly and
  merged into the tables when it grows past a fraction of the index.

Persistence: `save(dir)` writes numpy files and `load(dir)` memory-maps them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Literal

import numpy as np

PARTS = ((43, 21), (22, 21), (0, 22))  # (shift, bits) of the parts of each 64-bit word
_CHUNK = 1 << 20


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


def _query_words(query: str | np.ndarray, w: int) -> np.ndarray:
    q = to_words(query, w * 64)[0] if isinstance(query, str) else np.asarray(query, np.uint64)
    if q.shape != (w,):
        raise ValueError(f"query must be {w} words")
    return q


def _sorted_result(ids: np.ndarray, dists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((ids, dists))
    return ids[order].astype(np.int64), dists[order].astype(np.int64)


def linear_scan(hashes: np.ndarray, query: str | np.ndarray,
                radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances) of all rows of `hashes` (N, words) within `radius`, by distance then id."""
    hashes = np.asarray(hashes, dtype=np.uint64).reshape(len(hashes), -1)
    q = _query_words(query, hashes.shape[1])
    found_ids, found_d = [], []
    for start in range(0, len(hashes), _CHUNK):
        block = hashes[start:start + _CHUNK]
        d = np.bitwise_count(block ^ q).sum(axis=1, dtype=np.int64)
        hit = np.flatnonzero(d <= radius)
        found_ids.append(hit + start)
        found_d.append(d[hit])
    if not found_ids:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return _sorted_result(np.concatenate(found_ids), np.concatenate(found_d))


@lru_cache(maxsize=64)
def _masks(bits: int, radius: int) -> np.ndarray:
    """All `bits`-bit values with at most `radius` bits set."""
    out = [0]
    for k in range(1, radius + 1):
        out.extend(sum(1 << i for i in c) for c in combinations(range(bits), k))
    return np.array(out, dtype=np.uint64)


def _argsort_keys(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of uint32 keys as uint32 ids: one sort of (key << 32 | id) words,
    which is several times faster than numpy's stable argsort at 10M entries."""
    packed = keys.astype(np.uint64) << np.uint64(32)
    packed |= np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)


class HammingIndex:
    """Exact Hamming radius search over N hashes of 64 or 256 bits; ids are insertion order."""

    def __init__(self, bits: int = 256, *, merge_fraction: float = 0.125,
                 merge_min: int = 65536, scan_fallback: bool = True) -> None:
        self.bits = bits
        self.scan_fallback = scan_fallback  # scan small indexes where tables save nothing
        self.words = words_of(bits)
        self.merge_fraction = merge_fraction
        self.merge_min = merge_min
        self._hashes = np.empty((0, self.words), np.uint64)  # indexed part
        self._tail: list[np.ndarray] = []  # added since the last build, scanned linearly
        self._tail_cache: np.ndarray | None = None
        self._ids = np.empty(0, np.uint32)
        self._offsets = np.zeros(1, np.int64)
        self._key_bits: tuple[int, ...] = ()

    # -- size and contents
    def __len__(self) -> int:
        return len(self._hashes) + self._tail_len()

    def _tail_len(self) -> int:
        return sum(len(t) for t in self._tail)

    def _tail_array(self) -> np.ndarray:
        if self._tail_cache is None:
            self._tail_cache = (np.concatenate(self._tail) if self._tail
                                else np.empty((0, self.words), np.uint64))
            self._tail = [self._tail_cache] if len(self._tail_cache) else []
        return self._tail_cache

    def hashes(self) -> np.ndarray:
        """All stored hashes, (N, words) uint64, row i = id i."""
        return np.concatenate([np.asarray(self._hashes), self._tail_array()])

    @property
    def indexed(self) -> int:
        """How many hashes are in the tables (the rest are in the linearly scanned tail)."""
        return len(self._hashes)

    # -- building
    def add(self, hashes: Sequence[str] | np.ndarray) -> np.ndarray:
        """Append hashes (hex strings or (N, words) uint64); return their ids."""
        if len(hashes) == 0:
            return np.empty(0, np.int64)
        arr = (to_words(hashes, self.bits) if not isinstance(hashes, np.ndarray)
               else np.ascontiguousarray(hashes, dtype=np.uint64).reshape(-1, self.words))
        first = len(self)
        self._tail.append(arr.copy())
        self._tail_cache = None
        if self._tail_len() > max(self.merge_min, int(self.merge_fraction * len(self._hashes))):
            self.build()
        return np.arange(first, first + len(arr), dtype=np.int64)

    def build(self) -> None:
        """Index every stored hash (a full rebuild of the tables)."""
        all_hashes = np.ascontiguousarray(self.hashes())
        n = len(all_hashes)
        key_bits = []
        ids_parts, offset_parts = [], []
        base = 0
        wanted = max(8, int(np.ceil(np.log2(max(n, 2)))))
        for w in range(self.words):
            col = all_hashes[:, w]
            for shift, bits in PARTS:
                kb = min(bits, wanted)
                keys = ((col >> np.uint64(shift + bits - kb)) & np.uint64((1 << kb) - 1))
                keys = keys.astype(np.uint32)
                order = _argsort_keys(keys)
                counts = np.bincount(keys, minlength=1 << kb)
                starts = np.zeros(1 << kb, np.int64)
                np.cumsum(counts[:-1], out=starts[1:])
                ids_parts.append(order)
                offset_parts.append(starts + base)
                base += n
                key_bits.append(kb)
        offset_parts.append(np.array([base], np.int64))
        offsets = np.concatenate(offset_parts)
        self._offsets = offsets.astype(np.uint32) if base < 2**32 else offsets
        self._ids = np.concatenate(ids_parts) if ids_parts else np.empty(0, np.uint32)
        self._key_bits = tuple(key_bits)
        self._hashes = all_hashes
        self._tail, self._tail_cache = [], None

    @classmethod
    def from_hashes(cls, hashes: Sequence[str] | np.ndarray, bits: int = 256,
                    **options: object) -> HammingIndex:
        index = cls(bits, **options)  # type: ignore[arg-type]
        if len(hashes):
            index._tail.append(to_words(hashes, bits) if not isinstance(hashes, np.ndarray)
                               else np.asarray(hashes, np.uint64).reshape(-1, index.words))
        index.build()
        return index

    # -- searching
    def search(self, query: str | np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of every stored hash within `radius` bits, by distance then id."""
        q = _query_words(query, self.words)
        ids, dists = self._search_tables(q, radius)
        tail = self._tail_array()
        if len(tail):
            t_ids, t_d = linear_scan(tail, q, radius)
            ids = np.concatenate([ids, t_ids + len(self._hashes)])
            dists = np.concatenate([dists, t_d])
        return _sorted_result(ids, dists)

    def search_many(self, queries: Sequence[str] | np.ndarray,
                    radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        qs = to_words(queries, self.bits) if not isinstance(queries, np.ndarray) else queries
        return [self.search(q, radius) for q in np.asarray(qs, np.uint64).reshape(-1, self.words)]

    def _search_tables(self, q: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._hashes)
        empty = (np.empty(0, np.int64), np.empty(0, np.int64))
        if n == 0 or radius < 0:
            return empty
        word_radius = radius // self.words
        part_radius = word_radius // len(PARTS)
        lookups = sum(len(_masks(bits, part_radius)) for _, bits in PARTS) * self.words
        if self.scan_fallback and lookups * 2 > n:  # tables would not save work: scan
            return linear_scan(self._hashes, q, radius)
        positions, table_of = [], []
        base = 0
        for t, kb in enumerate(self._key_bits):
            shift, bits = PARTS[t % len(PARTS)]
            value = (q[t // len(PARTS)] >> np.uint64(shift)) & np.uint64((1 << bits) - 1)
            keys = (value ^ _masks(bits, part_radius)) >> np.uint64(bits - kb)
            if kb < bits:
                keys = np.unique(keys)
            positions.append(keys.astype(np.int64) + base)
            table_of.append(np.full(len(keys), t, np.int64))
            base += 1 << kb
        pos = np.concatenate(positions)
        starts = self._offsets[pos].astype(np.int64)
        lengths = self._offsets[pos + 1].astype(np.int64) - starts
        total = int(lengths.sum())
        if total == 0:
            return empty
        ends = np.cumsum(lengths)
        gather = np.repeat(starts - (ends - lengths), lengths) + np.arange(total)
        cand = self._ids[gather].astype(np.int64)
        word = np.repeat(np.concatenate(table_of) // len(PARTS), lengths)
        flat = self._hashes.reshape(-1)
        if self.words > 1:  # first level: the word the candidate came from
            wd = np.bitwise_count(flat[cand * self.words + word] ^ q[word])
            cand = cand[wd <= word_radius]
        cand = np.unique(cand)
        d = np.bitwise_count(np.asarray(self._hashes[cand]) ^ q).sum(axis=1, dtype=np.int64)
        keep = d <= radius
        return cand[keep], d[keep]

    # -- persistence
    def save(self, directory: str | Path) -> None:
        """Write the index as numpy files into `directory` (created if needed)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "hashes.npy", self.hashes())
        np.save(path / "ids.npy", np.asarray(self._ids))
        np.save(path / "offsets.npy", np.asarray(self._offsets))
        meta = {"bits": self.bits, "indexed": len(self._hashes), "key_bits": self._key_bits,
                "format": 1}
        (path / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | Path, *, mmap: bool = True,
             **options: object) -> HammingIndex:
        """Open an index saved by `save`; its arrays are memory-mapped unless mmap=False."""
        path = Path(directory)
        meta = json.loads((path / "meta.json").read_text())
        mode: Literal["r"] | None = "r" if mmap else None
        index = cls(int(meta["bits"]), **options)  # type: ignore[arg-type]
        all_hashes = np.load(path / "hashes.npy", mmap_mode=mode)
        k = int(meta["indexed"])
        index._hashes = all_hashes[:k]
        if len(all_hashes) > k:
            index._tail = [np.array(all_hashes[k:])]
        index._ids = np.load(path / "ids.npy", mmap_mode=mode)
        index._offsets = np.load(path / "offsets.npy", mmap_mode=mode)
        index._key_bits = tuple(int(b) for b in meta["key_bits"])
        return index


def build_index(hexes: Iterable[str], bits: int) -> HammingIndex:
    """Convenience: an index of hex hashes."""
    return HammingIndex.from_hashes(list(hexes), bits)
