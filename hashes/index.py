"""The near-duplicate index: `HammingIndex`, exact Hamming radius search over a growing set of
64-bit or 256-bit hashes, and its persistence.

`HammingIndex.search_batch` must return exactly what `linear_scan` (hashes.scan) returns, for many
queries in one vectorised pass. Hashes are indexed by multi-index hashing (hashes.mih: the table
layout, picked per build for the index's size and usual radius, the tables and their probing);
this module decides what is indexed and how a batch is searched. New hashes go to an unindexed
tail that is scanned linearly and merged into the tables when it grows past a fraction of the
index (at a search: past 4096 hashes too). Queries are split into passes that read at most
`_PROBES` buckets and `_CANDIDATES` candidates; small indexes (or queries whose buckets hold more
than the index) are scanned instead: same result. A hash found through several tables is kept
once in the final sort of the hits.

Persistence: `save(dir)` writes numpy files and `load(dir)` memory-maps them (an index saved
in format 1, before the sketches, is rebuilt in memory on load).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from hashes.mih import PARTS, PARTS_16, Parts, Plan, bucket_ranges, build_tables, verify
from hashes.mih import layout as _layout
from hashes.scan import (
    Hits,
    empty,
    finish,
    linear_scan,
    query_words,
    scan_batch,
    to_hex,
    to_words,
    words_of,
)

__all__ = [
    "PARTS",
    "PARTS_16",
    "HammingIndex",
    "Hits",
    "Parts",
    "build_index",
    "linear_scan",
    "to_hex",
    "to_words",
    "words_of",
]

_PROBES = 1 << 14  # bucket reads per pass of a batch (queries are split to stay below)
_CANDIDATES = 1 << 22  # candidates per pass of a batch (likewise)
_TAIL_SCAN = 4096  # a search first merges a tail longer than this (and than merge_fraction)
_SCAN_WORK = 1 << 15  # words x queries a scan does in the time of a table search (measured)


class HammingIndex:
    """Exact Hamming radius search over N hashes of 64 or 256 bits; ids are insertion order."""

    def __init__(
        self,
        bits: int = 256,
        *,
        merge_fraction: float = 0.125,
        merge_min: int = 65536,
        scan_fallback: bool = True,
        radius: int | None = None,
        parts: Parts | None = None,
    ) -> None:
        self.bits = bits
        self.radius = radius  # the radius searched most: each build picks its layout for it
        self.layout = parts  # or always this one (PARTS or PARTS_16)
        self.scan_fallback = scan_fallback  # scan small indexes where tables save nothing
        self.words = words_of(bits)
        self.merge_fraction = merge_fraction
        self.merge_min = merge_min
        self._hashes = np.empty((0, self.words), np.uint64)  # indexed part
        self._tail: list[np.ndarray] = []  # added since the last build, scanned linearly
        self._tail_cache: np.ndarray | None = None
        self._ids = np.empty(0, np.uint64)  # per table: sketch << 32 | id, in bucket order
        self._offsets = np.zeros(1, np.int64)
        self._key_bits: tuple[int, ...] = ()
        self._parts: Parts = PARTS
        self._plans: dict[int, Plan] = {}

    # -- size and contents
    def __len__(self) -> int:
        return len(self._hashes) + self._tail_len()

    def _tail_len(self) -> int:
        return sum(len(t) for t in self._tail)

    def _tail_array(self) -> np.ndarray:
        if self._tail_cache is None:
            self._tail_cache = (
                np.concatenate(self._tail) if self._tail else np.empty((0, self.words), np.uint64)
            )
            self._tail = [self._tail_cache] if len(self._tail_cache) else []
        return self._tail_cache

    def hashes(self) -> np.ndarray:
        """All stored hashes, (N, words) uint64, row i = id i."""
        return np.concatenate([np.asarray(self._hashes), self._tail_array()])

    def rows(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The stored hashes of `ids`, (len(ids), words) uint64."""
        ids = np.asarray(ids, np.int64)
        k = len(self._hashes)
        out = np.empty((len(ids), self.words), np.uint64)
        inside = ids < k
        out[inside] = self._hashes[ids[inside]]
        if not inside.all():
            out[~inside] = self._tail_array()[ids[~inside] - k]
        return out

    @property
    def indexed(self) -> int:
        """How many hashes are in the tables (the rest are in the linearly scanned tail)."""
        return len(self._hashes)

    # -- building
    def add(self, hashes: Sequence[str] | np.ndarray) -> np.ndarray:
        """Append hashes (hex strings or (N, words) uint64); return their ids."""
        if len(hashes) == 0:
            return np.empty(0, np.int64)
        arr = (
            to_words(hashes, self.bits)
            if not isinstance(hashes, np.ndarray)
            else np.ascontiguousarray(hashes, dtype=np.uint64).reshape(-1, self.words)
        )
        first = len(self)
        self._tail.append(arr.copy())
        self._tail_cache = None
        if self._tail_len() > max(self.merge_min, int(self.merge_fraction * len(self._hashes))):
            self.build()
        return np.arange(first, first + len(arr), dtype=np.int64)

    def build(self) -> None:
        """Index every stored hash (a full rebuild of the tables)."""
        all_hashes = np.ascontiguousarray(self.hashes())
        parts = self.layout or _layout(len(all_hashes), self.words, self.radius)
        self._ids, self._offsets, self._key_bits = build_tables(all_hashes, parts)
        self._parts = parts
        self._plans = {}
        self._hashes = all_hashes
        self._tail, self._tail_cache = [], None

    @classmethod
    def from_hashes(
        cls, hashes: Sequence[str] | np.ndarray, bits: int = 256, **options: object
    ) -> HammingIndex:
        index = cls(bits, **options)  # type: ignore[arg-type]
        if len(hashes):
            index._tail.append(
                to_words(hashes, bits)
                if not isinstance(hashes, np.ndarray)
                else np.asarray(hashes, np.uint64).reshape(-1, index.words)
            )
        index.build()
        return index

    # -- searching
    def search(self, query: str | np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of every stored hash within `radius` bits, by distance then id."""
        q = query_words(query, self.words)
        _, ids, dists = self.search_batch(q[None, :], radius)
        return ids, dists

    def search_many(
        self, queries: Sequence[str] | np.ndarray, radius: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """`search` of each query (one batch), in query order."""
        qs = self._queries(queries)
        qi, ids, d = self.search_batch(qs, radius)
        cuts = np.searchsorted(qi, np.arange(1, len(qs)))
        return list(zip(np.split(ids, cuts), np.split(d, cuts), strict=True))

    def search_batch(self, queries: Sequence[str] | np.ndarray, radius: int) -> Hits:
        """Every (query number, id, distance) within `radius` bits of each query, as three int64
        arrays sorted by query number, then distance, then id."""
        qs = self._queries(queries)
        if len(qs) == 0 or radius < 0 or len(self) == 0:
            return empty()
        if self._tail_len() > max(_TAIL_SCAN, self.merge_fraction * len(self._hashes)):
            self.build()  # searched more than added to: index the tail rather than scan it
        parts = [self._search_tables(qs, radius)]
        tail = self._tail_array()
        if len(tail):
            qi, ids, d = scan_batch(tail, qs, radius)
            parts.append((qi, ids + len(self._hashes), d))
        return finish(parts)

    def _queries(self, queries: Sequence[str] | np.ndarray) -> np.ndarray:
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(queries, np.ndarray):
            return (
                to_words(list(queries), self.bits)
                if len(queries)
                else np.empty((0, self.words), np.uint64)
            )
        qs = np.ascontiguousarray(queries, dtype=np.uint64)
        if qs.ndim == 1 and self.words == 1:
            qs = qs.reshape(-1, 1)
        if qs.ndim != 2 or qs.shape[1] != self.words:
            raise ValueError(f"queries must be (N, {self.words}) words, not {qs.shape}")
        return qs

    def _plan(self, part_radius: int) -> Plan:
        plan = self._plans.get(part_radius)
        if plan is None:
            plan = self._plans[part_radius] = Plan(self._parts, self._key_bits, part_radius)
        return plan

    def _search_tables(self, qs: np.ndarray, radius: int) -> Hits:
        n = len(self._hashes)
        if n == 0:
            return empty()
        word_radius = radius // self.words
        plan = self._plan(word_radius // len(self._parts))
        if self.scan_fallback and (len(plan) * 2 > n or n * self.words * len(qs) <= _SCAN_WORK):
            return scan_batch(self._hashes, qs, radius)  # tables would not save work
        step = max(1, _PROBES // len(plan))
        parts = [self._probe(qs[s : s + step], s, plan, radius) for s in range(0, len(qs), step)]
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]

    def _probe(self, qs: np.ndarray, first: int, plan: Plan, radius: int) -> Hits:
        """Read the buckets of queries qs (numbered from `first`) and verify the candidates."""
        n = len(self._hashes)
        starts, lengths, ends = bucket_ranges(self._offsets, qs, plan)
        total = int(ends[-1])
        if total > _CANDIDATES and len(qs) > 1:  # huge buckets (low-entropy data): split
            half = len(qs) // 2
            parts = [
                self._probe(qs[:half], first, plan, radius),
                self._probe(qs[half:], first + half, plan, radius),
            ]
            return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore
        if self.scan_fallback and total > n * len(qs):  # buckets hold more than a scan reads
            qi, ids, d = scan_batch(self._hashes, qs, radius)
            return qi + first, ids, d
        if total == 0:
            return empty()
        qi, ids, d = verify(self._hashes, self._ids, qs, plan, radius, starts, lengths, ends)
        return qi + first, ids, d

    # -- persistence
    def save(self, directory: str | Path) -> None:
        """Write the index as numpy files into `directory` (created if needed)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "hashes.npy", self.hashes())
        np.save(path / "ids.npy", np.asarray(self._ids))
        np.save(path / "offsets.npy", np.asarray(self._offsets))
        meta = {
            "bits": self.bits,
            "indexed": len(self._hashes),
            "key_bits": self._key_bits,
            "parts": self._parts,
            "format": 2,
        }
        (path / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | Path, *, mmap: bool = True, **options: object) -> HammingIndex:
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
        index._parts = tuple((int(s), int(b)) for s, b in meta.get("parts", PARTS))
        if int(meta.get("format", 1)) < 2:  # tables without sketches: rebuild in memory
            index.build()
        return index


def build_index(hexes: Iterable[str], bits: int) -> HammingIndex:
    """Convenience: an index of hex hashes."""
    return HammingIndex.from_hashes(list(hexes), bits)
