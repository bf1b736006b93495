"""The match policy: when do the hashes of fetched bytes count as the reported material?

One-to-one (`compare_to_baseline`, the recheck of a reported URL): an exact digest that is
equal, or PDQ within `pdq_threshold` (any dihedral variant), or pHash within `phash_threshold`
(also the mirrored image's pHash) is a match. Against one known image a 64-bit hash is enough.

One-to-many (`Matcher`, re-upload search over report baselines and hash lists): with millions of
entries a 64-bit hash yields chance hits, so a match is confirmed only by an exact digest
("exact"), by PDQ within `pdq_threshold` ("strong"), or by a pHash/dHash hit whose entry's
reference also has a PDQ hash within `pdq_agree_threshold` ("strong", algorithm "phash+pdq").
A pHash/dHash hit alone is a "candidate". Anything confirmed against an allowlist entry (a known
benign image) gives no result at all. Perceptual hashes of images that are not `usable` (too
small, PDQ quality < 50) are never matched one-to-many, and never confirm a one-to-one match.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from hashes.compute import MediaHashes, hamming
from hashes.formats import ALGORITHMS, normalize
from hashes.index import HammingIndex

EXACT = ("sha256", "sha1", "md5")
_RANK = {"exact": 0, "strong": 1, "candidate": 2}


@dataclass(frozen=True)
class Comparison:
    algorithm: str
    distance: int  # bits for perceptual hashes; 0 (equal) or 1 (different) for digests
    matched: bool


@dataclass(frozen=True)
class Match:
    ref: Hashable
    algorithm: str  # sha256|sha1|md5|pdq|phash+pdq|dhash+pdq (confirmed), phash|dhash (candidate)
    distance: int
    list_name: str
    label: str | None
    strength: str  # "exact" | "strong" | "candidate"


def _variants(h: MediaHashes, algorithm: str) -> list[str]:
    if algorithm == "pdq":
        return list(h.pdq_dihedral) or ([h.pdq] if h.pdq else [])
    if algorithm == "phash":
        return [v for v in (h.phash, h.phash_mirror) if v]
    value = h.get(algorithm)
    return [value] if value else []


def compare_to_baseline(baseline: list[tuple[str, str]], h: MediaHashes, *,
                        phash_threshold: int = 10,
                        pdq_threshold: int = 31) -> Comparison | None:
    """The best comparison of `h` against a report's baseline hashes (algorithm, hex);
    None when nothing is comparable (not an image and no digest in the baseline)."""
    by_algo: dict[str, list[str]] = defaultdict(list)
    for algorithm, value in baseline:
        by_algo[algorithm.strip().lower()].append(value.strip().lower())
    mismatch = None
    for algorithm in EXACT:
        if by_algo.get(algorithm):
            if getattr(h, algorithm) in by_algo[algorithm]:
                return Comparison(algorithm, 0, True)
            mismatch = mismatch or Comparison(algorithm, 1, False)
    if not h.ok:
        return mismatch
    found = []
    for algorithm, threshold in (("pdq", pdq_threshold), ("phash", phash_threshold),
                                 ("dhash", phash_threshold)):
        refs, mine = by_algo.get(algorithm), _variants(h, algorithm)
        if refs and mine:
            d = min(hamming(a, b) for a in refs for b in mine)
            found.append(Comparison(algorithm, d, h.usable and d <= threshold))
    for c in found:
        if c.matched:
            return c
    return found[0] if found else mismatch


@dataclass(frozen=True)
class _Entry:
    ref: Hashable
    list_name: str
    label: str | None
    allowlist: bool


class Matcher:
    """One-to-many matching of MediaHashes against report baselines and hash lists."""

    def __init__(self, *, phash_threshold: int = 10, pdq_threshold: int = 31,
                 pdq_agree_threshold: int = 48) -> None:
        self.phash_threshold = phash_threshold
        self.pdq_threshold = pdq_threshold
        self.pdq_agree_threshold = pdq_agree_threshold
        self._indexes = {a: HammingIndex(ALGORITHMS[a].bits) for a in ("pdq", "phash", "dhash")}
        self._entries: dict[str, list[_Entry]] = {a: [] for a in self._indexes}
        self._exact: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        self._pdq_of_ref: dict[tuple[Hashable, str], list[str]] = defaultdict(list)

    def __len__(self) -> int:
        return sum(len(v) for v in self._entries.values()) + sum(
            len(v) for v in self._exact.values())

    def add(self, ref: Hashable, algorithm: str, hex: str, *, list_name: str,
            label: str | None = None, allowlist: bool = False) -> None:
        """Add one reference hash; raises hashes.formats.HashFormatError for a bad one."""
        self.add_many([(ref, algorithm, hex, label)], list_name=list_name, allowlist=allowlist)

    def add_many(self, rows: Iterable[tuple[Hashable, str, str] | tuple[Hashable, str, str,
                                                                          str | None]],
                 *, list_name: str, allowlist: bool = False) -> int:
        """Add (ref, algorithm, hex[, label]) rows of one list in bulk; returns how many."""
        batches: dict[str, list[str]] = defaultdict(list)
        count = 0
        for row in rows:
            ref, algorithm, value = row[0], row[1], row[2]
            label = row[3] if len(row) > 3 else None
            name, hx = normalize(algorithm, value)
            entry = _Entry(ref, list_name, label, allowlist)
            if name in self._indexes:
                batches[name].append(hx)
                self._entries[name].append(entry)
                if name == "pdq":
                    self._pdq_of_ref[(ref, list_name)].append(hx)
            else:
                self._exact[(name, hx)].append(entry)
            count += 1
        for name, hexes in batches.items():
            self._indexes[name].add(hexes)
        return count

    def match(self, h: MediaHashes) -> list[Match]:
        """Confirmed matches (exact or strong), best first; [] if an allowlist entry matches."""
        return [m for m in self.candidates(h) if m.strength != "candidate"]

    def candidates(self, h: MediaHashes) -> list[Match]:
        """Confirmed matches and pHash/dHash-only candidates, best first."""
        best: dict[tuple[Hashable, str], tuple[Match, bool]] = {}

        def offer(entry: _Entry, m: Match) -> None:
            key = (entry.ref, entry.list_name)
            old = best.get(key)
            if old is None or _order(m) < _order(old[0]):
                best[key] = (m, entry.allowlist)

        for algorithm in EXACT:
            for entry in self._exact.get((algorithm, getattr(h, algorithm)), ()):
                offer(entry, Match(entry.ref, algorithm, 0, entry.list_name, entry.label, "exact"))
        if h.ok and h.usable:
            self._perceptual(h, offer)
        if any(allow and m.strength != "candidate" for m, allow in best.values()):
            return []
        return sorted((m for m, allow in best.values() if not allow), key=_order)

    def _perceptual(self, h: MediaHashes, offer) -> None:  # type: ignore[no-untyped-def]
        mine_pdq = _variants(h, "pdq")
        for algorithm, radius in (("pdq", self.pdq_threshold), ("phash", self.phash_threshold),
                                  ("dhash", self.phash_threshold)):
            index = self._indexes[algorithm]
            if not len(index):
                continue
            dist: dict[int, int] = {}
            for q in _variants(h, algorithm):
                ids, ds = index.search(q, radius)
                for i, d in zip(ids.tolist(), ds.tolist(), strict=True):
                    dist[i] = min(d, dist.get(i, d))
            for i, d in dist.items():
                entry = self._entries[algorithm][i]
                if algorithm == "pdq":
                    offer(entry, Match(entry.ref, "pdq", d, entry.list_name, entry.label,
                                       "strong"))
                    continue
                refs_pdq = self._pdq_of_ref.get((entry.ref, entry.list_name), ())
                agree = [hamming(a, b) for a in refs_pdq for b in mine_pdq]
                if agree and min(agree) <= self.pdq_agree_threshold:
                    offer(entry, Match(entry.ref, f"{algorithm}+pdq", d, entry.list_name,
                                       entry.label, "strong"))
                else:
                    offer(entry, Match(entry.ref, algorithm, d, entry.list_name, entry.label,
                                       "candidate"))


def _order(m: Match) -> tuple[int, float, str]:
    base = m.algorithm.split("+")[0]
    bits = ALGORITHMS[base].bits
    return (_RANK[m.strength], m.distance / bits, str(m.ref))
