"""Exact radius search under Hamming distance for 64-bit and 256-bit hashes.

Two searches that must return the same thing:
- `linear_scan`: XOR + popcount over every stored hash (numpy); the oracle.
- `HammingIndex.search_batch`: multi-index hashing, many queries in one vectorised pass. Each
  64-bit word is cut into p parts (3 of 21/21/22 bits, or 4 of 16 bits). By pigeonhole, a hash
  within r bits of the query has some word within floor(r / words) bits, and in that word some
  part within floor(floor(r / words) / p) bits. Each build picks p for the index's size and its
  usual radius (`radius=`): 16-bit parts read far fewer buckets, 21-bit parts hold fewer hashes
  per bucket. Per part a table: entries sorted by the part's value (its top `key_bits` bits;
  buckets are contiguous), and a direct offsets array giving each bucket's start. An entry is
  the hash's id plus a sketch: 32 bits of the same word outside the part, whose distance to the
  query's is a lower bound of the word's, so nearly every candidate is rejected inside the
  bucket without touching the hashes. A query reads the buckets (its key) XOR (the distinct
  probes within the part radius, precomputed per radius: no query deduplicates keys); all
  queries of a batch in one gather. Candidates left are checked on their word, then on the full
  distance; a hash found through several tables is kept once in the final sort of the hits.
  New hashes go to an unindexed tail that is scanned linearly and merged into the tables when
  it grows past a fraction of the index (at a search: past 4096 hashes too). Small indexes
  (or queries whose buckets hold more than the index) are scanned instead: same result.

Persistence: `save(dir)` writes numpy files and `load(dir)` memory-maps them (an index saved
in format 1, before the sketches, is rebuilt in memory on load).
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
PARTS_16 = ((48, 16), (32, 16), (16, 16), (0, 16))  # fewer probes, fuller buckets
Parts = tuple[tuple[int, int], ...]
_CHUNK = 1 << 20  # elements per block of a linear scan
_PROBES = 1 << 14  # bucket reads per pass of a batch (queries are split to stay below)
_CANDIDATES = 1 << 22  # candidates per pass of a batch (likewise)
_CANDIDATE_COST = 0.2  # a candidate's cost (its sketch checked) relative to a bucket read
_TAIL_SCAN = 4096  # a search first merges a tail longer than this (and than merge_fraction)
_SCAN_WORK = 1 << 15  # words x queries a scan does in the time of a table search (measured)
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


def _empty() -> Hits:
    return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)


def _scan_batch(hashes: np.ndarray, qs: np.ndarray, radius: int) -> Hits:
    """Every (query, row) within `radius`, by blocks of rows, word by word (unsorted)."""
    n, w = hashes.shape
    rows = max(1, _CHUNK // max(1, len(qs)))
    parts = []
    for start in range(0, n, rows):
        block = np.asarray(hashes[start:start + rows])
        d = np.zeros((len(qs), len(block)), np.uint16)
        for j in range(w):
            d += np.bitwise_count(block[None, :, j] ^ qs[:, j, None])
        qi, hit = np.nonzero(d <= radius)
        parts.append((qi, hit + start, d[qi, hit]))
    if not parts:
        return _empty()
    qi, ids, dist = (np.concatenate(p).astype(np.int64) for p in zip(*parts, strict=True))
    return qi, ids, dist


def _finish(parts: list[Hits]) -> Hits:
    """Hits by query, distance, id; a (query, id) found through several tables once."""
    qi, ids, d = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((ids, d, qi))
    qi, ids, d = qi[order], ids[order], d[order]
    if len(qi) > 1:
        first = np.ones(len(qi), bool)
        first[1:] = (qi[1:] != qi[:-1]) | (ids[1:] != ids[:-1])
        qi, ids, d = qi[first], ids[first], d[first]
    return qi, ids, d


@lru_cache(maxsize=64)
def _masks(bits: int, radius: int) -> np.ndarray:
    """All `bits`-bit values with at most `radius` bits set."""
    out = [0]
    for k in range(1, radius + 1):
        out.extend(sum(1 << i for i in c) for c in combinations(range(bits), k))
    return np.array(out, dtype=np.uint64)


@lru_cache(maxsize=256)
def _probes(bits: int, radius: int, key_bits: int) -> np.ndarray:
    """The distinct top-`key_bits` parts of the masks: key XOR probe is every bucket to read."""
    return np.unique(_masks(bits, radius) >> np.uint64(bits - key_bits))


def _argsort_keys(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of uint32 keys as uint32 ids: one sort of (key << 32 | id) words,
    which is several times faster than numpy's stable argsort at 10M entries."""
    packed = keys.astype(np.uint64) << np.uint64(32)
    packed |= np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _key_bits(n: int, words: int, parts: Parts) -> tuple[int, ...]:
    """Key bits per table: about log2(n) (about one hash per bucket), at most the part's bits."""
    wanted = max(8, int(np.ceil(np.log2(max(n, 2)))))
    return tuple(min(bits, wanted) for _ in range(words) for _, bits in parts)


def _layout(n: int, words: int, radius: int | None) -> Parts:
    """The parts per word that cost least per query at `radius`: a bucket read is a random
    memory access, a candidate in a bucket a fifth of one (measured: 16-bit parts win up to
    about 5M 256-bit hashes at r=31, 3M 64-bit at r=10, never at r=8); 21/21/22 bits when no
    radius is given."""
    if radius is None or radius < 0:
        return PARTS

    def cost(parts: Parts) -> float:
        part_radius = radius // words // len(parts)
        probes = [(len(_probes(b, part_radius, kb)), kb)
                  for (_, b), kb in zip(parts * words, _key_bits(n, words, parts), strict=True)]
        return sum(p * (1 + _CANDIDATE_COST * n / 2**kb) for p, kb in probes)

    return min((PARTS, PARTS_16), key=cost)


def _sketch(words: np.ndarray, start: int | np.ndarray) -> np.ndarray:
    """The 32 bits of each word from bit `start` on (cyclically): outside a part ending there."""
    k = np.asarray(start, np.uint64) % np.uint64(64)
    rotated = (words >> k) | (words << ((np.uint64(64) - k) % np.uint64(64)))
    return rotated & np.uint64(0xFFFFFFFF)


class _Plan:
    """What a query reads for one part radius: per probe column its table, word, key shift
    and mask, XOR value and the table's base in the offsets array."""

    def __init__(self, parts: Parts, key_bits: tuple[int, ...], part_radius: int) -> None:
        table, probe, base, start = [], [], [], 0
        shift, mask, end = [], [], []
        for t, kb in enumerate(key_bits):
            p_shift, bits = parts[t % len(parts)]
            end.append(p_shift + bits)
            p = _probes(bits, part_radius, kb)
            table.append(np.full(len(p), t, np.int64))
            probe.append(p)
            base.append(np.full(len(p), start, np.int64))
            shift.append(p_shift + bits - kb)
            mask.append((1 << kb) - 1)
            start += 1 << kb
        self.table_word = np.arange(len(key_bits), dtype=np.int64) // len(parts)
        self.end = np.array(end, np.uint64)  # where each table's sketch starts
        self.shift = np.array(shift, np.uint64)
        self.mask = np.array(mask, np.uint64)
        self.table = np.concatenate(table)
        probes, bases = np.concatenate(probe).astype(np.int64), np.concatenate(base)
        assert not np.any(bases & ((1 << np.array(key_bits))[self.table] - 1))
        self.key = probes ^ bases  # = probe + base: each table's base is a multiple of its size
        self.word = self.table_word[self.table]

    def __len__(self) -> int:
        return len(self.key)


class HammingIndex:
    """Exact Hamming radius search over N hashes of 64 or 256 bits; ids are insertion order."""

    def __init__(self, bits: int = 256, *, merge_fraction: float = 0.125,
                 merge_min: int = 65536, scan_fallback: bool = True,
                 radius: int | None = None, parts: Parts | None = None) -> None:
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
        self._plans: dict[int, _Plan] = {}

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
        parts = self.layout or _layout(n, self.words, self.radius)
        key_bits = _key_bits(n, self.words, parts)
        total = sum(1 << kb for kb in key_bits)
        entries = np.empty(len(key_bits) * n, np.uint64)  # filled in place: no second copy
        offsets = np.empty(total + 1, np.int64)
        base, at = 0, 0
        for t, kb in enumerate(key_bits):
            shift, bits = parts[t % len(parts)]
            col = all_hashes[:, t // len(parts)]
            keys = ((col >> np.uint64(shift + bits - kb)) & np.uint64((1 << kb) - 1))
            keys = keys.astype(np.uint32)
            order = _argsort_keys(keys)
            entries[base:base + n] = (_sketch(col[order], shift + bits) << np.uint64(32)) | order
            counts = np.bincount(keys, minlength=1 << kb)
            offsets[at] = base
            np.cumsum(counts[:-1], out=offsets[at + 1:at + (1 << kb)])
            offsets[at + 1:at + (1 << kb)] += base
            base += n
            at += 1 << kb
        offsets[at] = base
        self._offsets = offsets.astype(np.uint32) if base < 2**32 else offsets
        self._ids = entries
        self._key_bits, self._parts = key_bits, parts
        self._plans = {}
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
        _, ids, dists = self.search_batch(q[None, :], radius)
        return ids, dists

    def search_many(self, queries: Sequence[str] | np.ndarray,
                    radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
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
            return _empty()
        if self._tail_len() > max(_TAIL_SCAN, self.merge_fraction * len(self._hashes)):
            self.build()  # searched more than added to: index the tail rather than scan it
        parts = [self._search_tables(qs, radius)]
        tail = self._tail_array()
        if len(tail):
            qi, ids, d = _scan_batch(tail, qs, radius)
            parts.append((qi, ids + len(self._hashes), d))
        return _finish(parts)

    def _queries(self, queries: Sequence[str] | np.ndarray) -> np.ndarray:
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(queries, np.ndarray):
            return to_words(list(queries), self.bits) if len(queries) else np.empty(
                (0, self.words), np.uint64)
        qs = np.ascontiguousarray(queries, dtype=np.uint64)
        if qs.ndim == 1 and self.words == 1:
            qs = qs.reshape(-1, 1)
        if qs.ndim != 2 or qs.shape[1] != self.words:
            raise ValueError(f"queries must be (N, {self.words}) words, not {qs.shape}")
        return qs

    def _plan(self, part_radius: int) -> _Plan:
        plan = self._plans.get(part_radius)
        if plan is None:
            plan = self._plans[part_radius] = _Plan(self._parts, self._key_bits, part_radius)
        return plan

    def _search_tables(self, qs: np.ndarray, radius: int) -> Hits:
        n = len(self._hashes)
        if n == 0:
            return _empty()
        word_radius = radius // self.words
        plan = self._plan(word_radius // len(self._parts))
        if self.scan_fallback and (len(plan) * 2 > n or n * self.words * len(qs) <= _SCAN_WORK):
            return _scan_batch(self._hashes, qs, radius)  # tables would not save work
        step = max(1, _PROBES // len(plan))
        parts = [self._probe(qs[s:s + step], s, plan, radius) for s in range(0, len(qs), step)]
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]

    def _probe(self, qs: np.ndarray, first: int, plan: _Plan, radius: int) -> Hits:
        """Read the buckets of queries qs (numbered from `first`) and verify the candidates:
        first by the sketch stored beside each id (32 bits of the word outside the table's part,
        so their distance is a lower bound of the word's), then the few left by the hash."""
        w, n, off, word_radius = self.words, len(self._hashes), self._offsets, radius // self.words
        top = ((qs[:, plan.table_word] >> plan.shift) & plan.mask).view(np.int64)  # (Q, tables)
        pos = (np.take(top, plan.table, axis=1) ^ plan.key).ravel()  # bucket numbers
        starts = np.take(off, pos)
        lengths = np.take(off, pos + 1) - starts
        ends = np.cumsum(lengths, dtype=np.int64)
        total = int(ends[-1])
        if total > _CANDIDATES and len(qs) > 1:  # huge buckets (low-entropy data): split
            half = len(qs) // 2
            parts = [self._probe(qs[:half], first, plan, radius),
                     self._probe(qs[half:], first + half, plan, radius)]
            return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore
        if self.scan_fallback and total > n * len(qs):  # buckets hold more than a scan reads
            qi, ids, d = _scan_batch(self._hashes, qs, radius)
            return qi + first, ids, d
        if total == 0:
            return _empty()
        gather = np.repeat(starts - (ends - lengths), lengths)  # bucket start - output start
        gather += np.arange(total)
        entries = np.take(self._ids, gather)
        query_sketch = _sketch(qs[:, plan.table_word], plan.end) << np.uint64(32)  # (Q, tables)
        entries ^= np.repeat(np.take(query_sketch, plan.table, axis=1).ravel(), lengths)
        near = np.flatnonzero(np.bitwise_count(entries >> np.uint64(32)) <= word_radius)
        cand = (entries[near] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        probe = np.searchsorted(ends, near, side="right")  # which (query, probe) found it
        qi, word = probe // len(plan), plan.word[probe % len(plan)]
        if w > 1:  # first the word the candidate came from, then the whole hash
            wd = np.bitwise_count(self._hashes[cand, word] ^ qs[qi, word])
            keep = np.flatnonzero(wd <= word_radius)
            cand, qi = cand[keep], qi[keep]
        d = np.bitwise_count(self._hashes[cand] ^ qs[qi]).sum(axis=1, dtype=np.int64)
        keep = np.flatnonzero(d <= radius)
        return qi[keep] + first, cand[keep], d[keep]

    # -- persistence
    def save(self, directory: str | Path) -> None:
        """Write the index as numpy files into `directory` (created if needed)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "hashes.npy", self.hashes())
        np.save(path / "ids.npy", np.asarray(self._ids))
        np.save(path / "offsets.npy", np.asarray(self._offsets))
        meta = {"bits": self.bits, "indexed": len(self._hashes), "key_bits": self._key_bits,
                "parts": self._parts, "format": 2}
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
        index._parts = tuple((int(s), int(b)) for s, b in meta.get("parts", PARTS))
        if int(meta.get("format", 1)) < 2:  # tables without sketches: rebuild in memory
            index.build()
        return index


def build_index(hexes: Iterable[str], bits: int) -> HammingIndex:
    """Convenience: an index of hex hashes."""
    return HammingIndex.from_hashes(list(hexes), bits)
