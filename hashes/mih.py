"""Multi-index hashing tables: their layout, their build, and the reading of their buckets.

Each 64-bit word is cut into p parts (3 of 21/21/22 bits, or 4 of 16 bits). By pigeonhole, a
hash within r bits of the query has some word within floor(r / words) bits, and in that word some
part within floor(floor(r / words) / p) bits. `layout` picks p for the index's size and its usual
radius: 16-bit parts read far fewer buckets, 21-bit parts hold fewer hashes per bucket. Per part
a table (`build_tables`): entries sorted by the part's value (its top `key_bits` bits; buckets
are contiguous), and a direct offsets array giving each bucket's start. An entry is the hash's id
plus a sketch: 32 bits of the same word outside the part, whose distance to the query's is a
lower bound of the word's, so nearly every candidate is rejected inside the bucket without
touching the hashes. A query reads the buckets (its key) XOR (the distinct probes within the part
radius, precomputed per radius in a `Plan`: no query deduplicates keys); all queries of a batch
in one gather (`bucket_ranges`). Candidates left are checked on their word, then on the full
distance (`verify`).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np

from hashes.scan import Hits

PARTS = ((43, 21), (22, 21), (0, 22))  # (shift, bits) of the parts of each 64-bit word
PARTS_16 = ((48, 16), (32, 16), (16, 16), (0, 16))  # fewer probes, fuller buckets
Parts = tuple[tuple[int, int], ...]
CANDIDATE_COST = 0.2  # a candidate's cost (its sketch checked) relative to a bucket read


@lru_cache(maxsize=64)
def _masks(bits: int, radius: int) -> np.ndarray:
    """All `bits`-bit values with at most `radius` bits set."""
    out = [0]
    for k in range(1, radius + 1):
        out.extend(sum(1 << i for i in c) for c in combinations(range(bits), k))
    return np.array(out, dtype=np.uint64)


@lru_cache(maxsize=256)
def probes(bits: int, radius: int, key_bits: int) -> np.ndarray:
    """The distinct top-`key_bits` parts of the masks: key XOR probe is every bucket to read."""
    return np.unique(_masks(bits, radius) >> np.uint64(bits - key_bits))


def _argsort_keys(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of uint32 keys as uint32 ids: one sort of (key << 32 | id) words,
    which is several times faster than numpy's stable argsort at 10M entries."""
    packed = keys.astype(np.uint64) << np.uint64(32)
    packed |= np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def key_bits_for(n: int, words: int, parts: Parts) -> tuple[int, ...]:
    """Key bits per table: about log2(n) (about one hash per bucket), at most the part's bits."""
    wanted = max(8, int(np.ceil(np.log2(max(n, 2)))))
    return tuple(min(bits, wanted) for _ in range(words) for _, bits in parts)


def layout(n: int, words: int, radius: int | None) -> Parts:
    """The parts per word that cost least per query at `radius`: a bucket read is a random
    memory access, a candidate in a bucket a fifth of one (measured: 16-bit parts win up to
    about 5M 256-bit hashes at r=31, 3M 64-bit at r=10, never at r=8); 21/21/22 bits when no
    radius is given."""
    if radius is None or radius < 0:
        return PARTS

    def cost(parts: Parts) -> float:
        part_radius = radius // words // len(parts)
        reads = [
            (len(probes(b, part_radius, kb)), kb)
            for (_, b), kb in zip(parts * words, key_bits_for(n, words, parts), strict=True)
        ]
        return sum(p * (1 + CANDIDATE_COST * n / 2**kb) for p, kb in reads)

    return min((PARTS, PARTS_16), key=cost)


def _sketch(words: np.ndarray, start: int | np.ndarray) -> np.ndarray:
    """The 32 bits of each word from bit `start` on (cyclically): outside a part ending there."""
    k = np.asarray(start, np.uint64) % np.uint64(64)
    rotated = (words >> k) | (words << ((np.uint64(64) - k) % np.uint64(64)))
    return rotated & np.uint64(0xFFFFFFFF)


def build_tables(
    hashes: np.ndarray, parts: Parts
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(entries, offsets, key_bits) of the tables over `hashes` (N, words), contiguous uint64:
    entries are, table after table, sketch << 32 | id in bucket order; offsets[b] is where
    bucket b starts (the buckets of all tables numbered one after another), then the end."""
    n, words = hashes.shape
    key_bits = key_bits_for(n, words, parts)
    total = sum(1 << kb for kb in key_bits)
    entries = np.empty(len(key_bits) * n, np.uint64)  # filled in place: no second copy
    offsets = np.empty(total + 1, np.int64)
    base, at = 0, 0
    for t, kb in enumerate(key_bits):
        shift, bits = parts[t % len(parts)]
        col = hashes[:, t // len(parts)]
        keys = (col >> np.uint64(shift + bits - kb)) & np.uint64((1 << kb) - 1)
        keys = keys.astype(np.uint32)
        order = _argsort_keys(keys)
        entries[base : base + n] = (_sketch(col[order], shift + bits) << np.uint64(32)) | order
        counts = np.bincount(keys, minlength=1 << kb)
        offsets[at] = base
        np.cumsum(counts[:-1], out=offsets[at + 1 : at + (1 << kb)])
        offsets[at + 1 : at + (1 << kb)] += base
        base += n
        at += 1 << kb
    offsets[at] = base
    return entries, (offsets.astype(np.uint32) if base < 2**32 else offsets), key_bits


class Plan:
    """What a query reads for one part radius: per probe column its table, word, key shift
    and mask, XOR value and the table's base in the offsets array."""

    def __init__(self, parts: Parts, key_bits: tuple[int, ...], part_radius: int) -> None:
        table, probe, base, start = [], [], [], 0
        shift, mask, end = [], [], []
        for t, kb in enumerate(key_bits):
            p_shift, bits = parts[t % len(parts)]
            end.append(p_shift + bits)
            p = probes(bits, part_radius, kb)
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
        probe_keys, bases = np.concatenate(probe).astype(np.int64), np.concatenate(base)
        assert not np.any(bases & ((1 << np.array(key_bits))[self.table] - 1))
        self.key = probe_keys ^ bases  # = probe + base: each table's base is a multiple of its size
        self.word = self.table_word[self.table]

    def __len__(self) -> int:
        return len(self.key)


def bucket_ranges(
    offsets: np.ndarray, qs: np.ndarray, plan: Plan
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, lengths, ends) of the buckets queries `qs` read, per (query, probe) in that
    order: where each starts in the entries, how many it holds, and the running total."""
    top = ((qs[:, plan.table_word] >> plan.shift) & plan.mask).view(np.int64)  # (Q, tables)
    pos = (np.take(top, plan.table, axis=1) ^ plan.key).ravel()  # bucket numbers
    starts = np.take(offsets, pos)
    lengths = np.take(offsets, pos + 1) - starts
    return starts, lengths, np.cumsum(lengths, dtype=np.int64)


def verify(
    hashes: np.ndarray,
    entries: np.ndarray,
    qs: np.ndarray,
    plan: Plan,
    radius: int,
    starts: np.ndarray,
    lengths: np.ndarray,
    ends: np.ndarray,
) -> Hits:
    """Every (query, id, distance) within `radius` among the candidates of the buckets read
    (at least one): first by the sketch stored beside each id (32 bits of the word outside the
    table's part, so their distance is a lower bound of the word's), then the few left by the
    hash. A hash found through several tables is found once per table (unsorted)."""
    w, word_radius, total = hashes.shape[1], radius // hashes.shape[1], int(ends[-1])
    gather = np.repeat(starts - (ends - lengths), lengths)  # bucket start - output start
    gather += np.arange(total)
    found = np.take(entries, gather)
    query_sketch = _sketch(qs[:, plan.table_word], plan.end) << np.uint64(32)  # (Q, tables)
    found ^= np.repeat(np.take(query_sketch, plan.table, axis=1).ravel(), lengths)
    near = np.flatnonzero(np.bitwise_count(found >> np.uint64(32)) <= word_radius)
    cand = (found[near] & np.uint64(0xFFFFFFFF)).astype(np.int64)
    probe = np.searchsorted(ends, near, side="right")  # which (query, probe) found it
    qi, word = probe // len(plan), plan.word[probe % len(plan)]
    if w > 1:  # first the word the candidate came from, then the whole hash
        wd = np.bitwise_count(hashes[cand, word] ^ qs[qi, word])
        keep = np.flatnonzero(wd <= word_radius)
        cand, qi = cand[keep], qi[keep]
    d = np.bitwise_count(hashes[cand] ^ qs[qi]).sum(axis=1, dtype=np.int64)
    keep = np.flatnonzero(d <= radius)
    return qi[keep], cand[keep], d[keep]
