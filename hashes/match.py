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

Matching cost: all query variants of a batch of images (8 dihedral PDQs and the pHash of the
image and of its mirror, per image) go through one `HammingIndex.search_batch` per algorithm.
`match`/`match_many` search pHash and dHash only among the entries a PDQ can confirm (whose
reference also has a PDQ entry in the same list: hashes.entries `confirmable`).
The entries themselves (columns, hash indexes, digest tables, bulk add) are hashes.entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hashes.compute import MediaHashes, hamming
from hashes.entries import EXACT, PERCEPTUAL, Entries
from hashes.formats import ALGORITHMS
from hashes.index import to_words

__all__ = ["EXACT", "PERCEPTUAL", "Comparison", "Match", "Matcher", "compare_to_baseline"]
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


def compare_to_baseline(
    baseline: list[tuple[str, str]],
    h: MediaHashes,
    *,
    phash_threshold: int = 10,
    pdq_threshold: int = 31,
) -> Comparison | None:
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
    for algorithm, threshold in (
        ("pdq", pdq_threshold),
        ("phash", phash_threshold),
        ("dhash", phash_threshold),
    ):
        refs, mine = by_algo.get(algorithm), _variants(h, algorithm)
        if refs and mine:
            d = min(hamming(a, b) for a in refs for b in mine)
            found.append(Comparison(algorithm, d, h.usable and d <= threshold))
    for c in found:
        if c.matched:
            return c
    return found[0] if found else mismatch


_Offer = Callable[[int, Hashable, int, Match], None]  # (image, ref, list number, match)


class Matcher:
    """One-to-many matching of MediaHashes against report baselines and hash lists.

    `match`/`candidates` take one image; `match_many`/`candidates_many` take a batch and search
    every query variant of every image (8 dihedral PDQs, pHash and its mirror, dHash) in one
    vectorised index search per algorithm, with identical images (same hashes) matched once.
    Both give exactly the same results."""

    def __init__(
        self, *, phash_threshold: int = 10, pdq_threshold: int = 31, pdq_agree_threshold: int = 48
    ) -> None:
        self.phash_threshold = phash_threshold
        self.pdq_threshold = pdq_threshold
        self.pdq_agree_threshold = pdq_agree_threshold
        radius = {"pdq": pdq_threshold, "phash": phash_threshold, "dhash": phash_threshold}
        self._entries = Entries(radius)

    def __len__(self) -> int:
        return len(self._entries)

    def add(
        self,
        ref: Hashable,
        algorithm: str,
        hex: str,
        *,
        list_name: str,
        label: str | None = None,
        allowlist: bool = False,
    ) -> None:
        """Add one reference hash; raises hashes.formats.HashFormatError for a bad one."""
        self.add_many([(ref, algorithm, hex, label)], list_name=list_name, allowlist=allowlist)

    def add_many(
        self,
        rows: Iterable[tuple[Hashable, str, str] | tuple[Hashable, str, str, str | None]],
        *,
        list_name: str,
        allowlist: bool = False,
        skip_invalid: bool = False,
    ) -> int:
        """Add (ref, algorithm, hex[, label]) rows of one list in bulk; returns how many.

        A bad row raises hashes.formats.HashFormatError and adds nothing of this call, unless
        `skip_invalid`: then bad rows (unknown algorithm, wrong length, not hex) are left out."""
        return self._entries.add_many(
            rows, list_name=list_name, allowlist=allowlist, skip_invalid=skip_invalid
        )

    def add_packed(
        self,
        algorithm: str,
        hexes: str,
        refs: Sequence[Hashable],
        labels: Sequence[str | None] | None = None,
        *,
        list_name: str,
        allowlist: bool = False,
    ) -> int:
        """Add the hashes of one algorithm in bulk: `hexes` is their hex run together, one per
        ref (and label). Raises HashFormatError, adding nothing, unless it is exactly len(refs)
        well-formed hashes."""
        return self._entries.add_packed(
            algorithm, hexes, refs, labels, list_name=list_name, allowlist=allowlist
        )

    def match(self, h: MediaHashes) -> list[Match]:
        """Confirmed matches (exact or strong), best first; [] if an allowlist entry matches."""
        return self.match_many([h])[0]

    def candidates(self, h: MediaHashes) -> list[Match]:
        """Confirmed matches and pHash/dHash-only candidates, best first."""
        return self.candidates_many([h])[0]

    def match_many(self, hs: Sequence[MediaHashes]) -> list[list[Match]]:
        """`match` of each image, in order, searched as one batch."""
        return [
            [m for m in ms if m.strength != "candidate"]
            for ms in self.candidates_many(hs, confirmed_only=True)
        ]

    def candidates_many(
        self, hs: Sequence[MediaHashes], *, confirmed_only: bool = False
    ) -> list[list[Match]]:
        """`candidates` of each image, in order, searched as one batch. `confirmed_only`
        (what `match_many` needs) leaves out the pHash/dHash entries that could only ever be
        candidates: those whose reference has no PDQ entry in their list."""
        slot_of: dict[tuple, int] = {}
        unique: list[MediaHashes] = []
        slots = []
        for h in hs:  # identical images (same hashes) are searched once
            key = _identity(h)
            if key not in slot_of:
                slot_of[key] = len(unique)
                unique.append(h)
            slots.append(slot_of[key])
        found = self._search(unique, confirmed_only)
        return [list(found[s]) for s in slots]

    # -- the search
    def _search(self, hs: list[MediaHashes], confirmed_only: bool) -> list[list[Match]]:
        best: list[dict[tuple[Hashable, str], tuple[Match, bool]]] = [{} for _ in hs]
        lists, exact = self._entries.lists, self._entries.exact

        def offer(i: int, ref: Hashable, number: int, m: Match) -> None:
            key = (ref, lists[number][0])
            old = best[i].get(key)
            if old is None or _order(m) < _order(old[0]):
                best[i][key] = (m, lists[number][1])

        for i, h in enumerate(hs):
            for algorithm in EXACT:
                for ref, number, label in exact[algorithm].get(getattr(h, algorithm), ()):
                    offer(
                        i, ref, number, Match(ref, algorithm, 0, lists[number][0], label, "exact")
                    )
        usable = [i for i, h in enumerate(hs) if h.ok and h.usable]
        if usable:
            self._perceptual(hs, usable, offer, confirmed_only)
        out: list[list[Match]] = []
        for b in best:
            if any(allow and m.strength != "candidate" for m, allow in b.values()):
                out.append([])
            else:
                out.append(sorted((m for m, allow in b.values() if not allow), key=_order))
        return out

    def _perceptual(
        self, hs: list[MediaHashes], usable: list[int], offer: _Offer, confirmed_only: bool
    ) -> None:
        mine_pdq: dict[int, np.ndarray] = {}
        entries = self._entries
        for algorithm, radius in (
            ("pdq", self.pdq_threshold),
            ("phash", self.phash_threshold),
            ("dhash", self.phash_threshold),
        ):
            index, cols = entries.indexes[algorithm], entries.columns[algorithm]
            full_ids = None  # the subset index's ids -> the full index's
            if confirmed_only and algorithm != "pdq" and len(index):
                index, full_ids = entries.confirmable(algorithm)
            if not len(index):
                continue
            queries, owner = [], []
            for i in usable:
                variants = _variants(hs[i], algorithm)
                queries.extend(variants)
                owner.extend([i] * len(variants))
            if not queries:
                continue
            qi, ids, ds = index.search_batch(to_words(queries, index.bits), radius)
            if full_ids is not None:
                ids = full_ids[ids]
            dist: dict[int, dict[int, int]] = {}  # image -> id -> least distance, first seen
            for q, e, d in zip(qi.tolist(), ids.tolist(), ds.tolist(), strict=True):
                seen = dist.setdefault(owner[q], {})
                if d < seen.get(e, d + 1):
                    seen[e] = d
            for i, found in dist.items():
                for e, d in found.items():
                    ref, number, label = cols.refs[e], cols.lists[e], cols.labels[e]
                    name = entries.lists[number][0]
                    if algorithm == "pdq":
                        offer(i, ref, number, Match(ref, "pdq", d, name, label, "strong"))
                    elif self._agrees(ref, name, hs[i], mine_pdq, i):
                        offer(
                            i, ref, number, Match(ref, f"{algorithm}+pdq", d, name, label, "strong")
                        )
                    else:
                        offer(i, ref, number, Match(ref, algorithm, d, name, label, "candidate"))

    def _agrees(
        self, ref: Hashable, list_name: str, h: MediaHashes, mine: dict[int, np.ndarray], i: int
    ) -> bool:
        """Whether the entry's reference has a PDQ within pdq_agree_threshold of the image's."""
        rows = self._entries.pdq_rows(ref, list_name)
        if not rows:
            return False
        if i not in mine:
            variants = _variants(h, "pdq")
            mine[i] = to_words(variants, 256) if variants else np.empty((0, 4), np.uint64)
        if not len(mine[i]):
            return False
        theirs = self._entries.indexes["pdq"].rows(rows)
        d = np.bitwise_count(theirs[:, None, :] ^ mine[i][None, :, :]).sum(axis=2)
        return int(d.min()) <= self.pdq_agree_threshold


def _identity(h: MediaHashes) -> tuple:
    """Everything matching reads of an image: equal for the same bytes."""
    return (
        h.sha256,
        h.sha1,
        h.md5,
        h.ok and h.usable,
        h.pdq,
        h.pdq_dihedral,
        h.phash,
        h.phash_mirror,
        h.dhash,
    )


def _order(m: Match) -> tuple[int, float, str]:
    base = m.algorithm.split("+")[0]
    bits = ALGORITHMS[base].bits
    return (_RANK[m.strength], m.distance / bits, str(m.ref))
