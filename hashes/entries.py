"""The entries of the lists a Matcher matches against, stored as columns.

An entry is (ref, algorithm, hash, list, label). Per perceptual algorithm (PDQ, pHash, dHash)
the hashes go into one `HammingIndex` and the rest into columns by index id (no object per
entry); per exact digest (SHA-256, SHA-1, MD5) a dict from hex to its entries. Lists are numbered
in the order they are first added, each with its name and whether it is an allowlist. Per 64-bit
algorithm, the entries a PDQ of the same reference can confirm also get an index of their own
(`confirmable`, built on need). A bulk add checks all hex of an algorithm at once and adds
nothing of a call when a row is bad (or leaves the bad rows out when asked to); `add_packed`
takes one algorithm's hashes as one hex string. Video signatures (`vpdq`, variable-length
text) are no entries of these image indexes: `add_many` leaves such rows out, never as an error.
"""

from __future__ import annotations

import string
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from hashes.formats import ALGORITHMS, VIDEO_ALGORITHMS, HashFormatError, normalize
from hashes.index import HammingIndex

EXACT = ("sha256", "sha1", "md5")
PERCEPTUAL = ("pdq", "phash", "dhash")
_HEX_LEN = {a.name: a.hex_len for a in ALGORITHMS.values()}
_HEX_DIGITS = frozenset(string.hexdigits.lower())
_VIDEO = "video"  # add_many's name for a video algorithm's rows (hashes.formats.VIDEO_ALGORITHMS)


class Columns:
    """The entries of one perceptual algorithm, by index id: columns, not one object per row."""

    def __init__(self) -> None:
        self.refs: list[Hashable] = []
        self.lists: list[int] = []  # list number (Entries.lists)
        self.labels: list[str | None] = []


class Entries:
    """Every list entry: `indexes` and `columns` per perceptual algorithm, `exact` per digest
    (hex -> [(ref, list number, label)]), and `lists`: (list name, allowlist) by list number."""

    def __init__(self, radius: dict[str, int]) -> None:
        """`radius`: per perceptual algorithm, the radius its index is searched with most."""
        self.indexes = {a: HammingIndex(ALGORITHMS[a].bits, radius=radius[a]) for a in PERCEPTUAL}
        self.columns = {a: Columns() for a in PERCEPTUAL}
        self.exact: dict[str, dict[str, list[tuple[Hashable, int, str | None]]]] = {
            a: {} for a in EXACT
        }
        self.lists: list[tuple[str, bool]] = []  # (list name, allowlist) by list number
        self._exact_count = 0
        self._list_no: dict[tuple[str, bool], int] = {}
        self._pdq_rows: dict[tuple[Hashable, str], list[int]] | None = None  # built on need
        self._radius = radius
        self._confirmable: dict[str, tuple[tuple[int, int], HammingIndex, np.ndarray]] = {}

    def __len__(self) -> int:
        return sum(len(c.refs) for c in self.columns.values()) + self._exact_count

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
        number = self._number(list_name, allowlist)
        texts: dict[str, list[str]] = {a: [] for a in ALGORITHMS}
        taken: dict[str, list[tuple[Hashable, str | None]]] = {a: [] for a in ALGORITHMS}
        names: dict[str, str | None] = {}
        for row in rows:
            algorithm, value = row[1], row[2]
            name = names.get(algorithm, "")
            if name == "":
                lower = str(algorithm).strip().lower()
                known = ALGORITHMS.get(lower)
                name = names[algorithm] = (
                    known.name if known else _VIDEO if lower in VIDEO_ALGORITHMS else None
                )
            if name == _VIDEO:
                continue  # a video signature: not for this index (never an error)
            text = value.strip().lower() if isinstance(value, str) else ""
            if text.startswith("0x"):
                text = text[2:]
            if name is None or len(text) != _HEX_LEN[name]:
                if skip_invalid:
                    continue
                normalize(str(algorithm), str(value))  # raises with the reason
                raise HashFormatError(f"bad {algorithm} hash")
            texts[name].append(text)
            taken[name].append((row[0], row[3] if len(row) > 3 else None))
        raws = {a: _checked_hex(texts[a], taken[a], a, skip_invalid) for a in ALGORITHMS}
        count = 0
        for a, (raw, kept) in raws.items():  # every row is valid now: commit
            count += len(kept)
            if a in self.exact:
                table = self.exact[a]
                for hx, (ref, label) in zip(texts[a], kept, strict=True):
                    table.setdefault(hx, []).append((ref, number, label))
                self._exact_count += len(kept)
            elif kept:
                cols = self.columns[a]
                first = len(cols.refs)
                self.indexes[a].add(np.frombuffer(raw, ">u8").astype(np.uint64))
                cols.refs.extend(ref for ref, _ in kept)
                cols.labels.extend(label for _, label in kept)
                cols.lists.extend([number] * len(kept))
                if a == "pdq" and self._pdq_rows is not None:
                    for i, (ref, _) in enumerate(kept, first):
                        self._pdq_rows.setdefault((ref, list_name), []).append(i)
        return count

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
        """Add len(refs) hashes of one algorithm given as one string of their hex run together
        (what SQL's group_concat gives): checked in one call, and for perceptual hashes no work
        per row. Raises HashFormatError, adding nothing, unless the string is exactly that
        many hashes."""
        if algorithm not in ALGORITHMS:
            raise HashFormatError(f"unknown hash algorithm: {algorithm!r}")
        size = ALGORITHMS[algorithm].bits // 8
        try:
            raw = bytes.fromhex(hexes)
        except ValueError as exc:
            raise HashFormatError(f"bad {algorithm} hashes: {exc}") from None
        if len(raw) != size * len(refs) or len(hexes) != 2 * len(raw):
            raise HashFormatError(f"{len(refs)} {algorithm} hashes expected")
        if labels is not None and len(labels) != len(refs):
            raise ValueError("one label (or None) per ref")
        number = self._number(list_name, allowlist)
        if algorithm in self.exact:
            table, width, text = self.exact[algorithm], 2 * size, hexes.lower()
            for k, ref in enumerate(refs):
                table.setdefault(text[k * width : (k + 1) * width], []).append(
                    (ref, number, labels[k] if labels is not None else None)
                )
            self._exact_count += len(refs)
            return len(refs)
        cols = self.columns[algorithm]
        first = len(cols.refs)
        self.indexes[algorithm].add(np.frombuffer(raw, ">u8").astype(np.uint64))
        cols.refs.extend(refs)
        cols.labels.extend(labels if labels is not None else [None] * len(refs))
        cols.lists.extend([number] * len(refs))
        if algorithm == "pdq" and self._pdq_rows is not None:
            for i, ref in enumerate(refs, first):
                self._pdq_rows.setdefault((ref, list_name), []).append(i)
        return len(refs)

    def _number(self, list_name: str, allowlist: bool) -> int:
        key = (list_name, bool(allowlist))
        if key not in self._list_no:
            self._list_no[key] = len(self.lists)
            self.lists.append(key)
        return self._list_no[key]

    def pdq_rows(self, ref: Hashable, list_name: str) -> list[int] | None:
        """The PDQ index ids of the entries of `ref` in list `list_name` (None if it has none)."""
        if self._pdq_rows is None:
            cols, self._pdq_rows = self.columns["pdq"], {}
            for e, (r, number) in enumerate(zip(cols.refs, cols.lists, strict=True)):
                self._pdq_rows.setdefault((r, self.lists[number][0]), []).append(e)
        return self._pdq_rows.get((ref, list_name))

    def confirmable(self, algorithm: str) -> tuple[HammingIndex, np.ndarray]:
        """The entries of a 64-bit algorithm (pHash, dHash) whose reference also has a PDQ entry
        in the same list, as an index of their own and their ids in the full index. Only those
        can ever be confirmed one-to-many (hashes.match), so a search for confirmed matches
        reads this one: usually a few report baselines instead of millions of list entries.
        Built on first use, again after entries were added."""
        cols = self.columns[algorithm]
        size = (len(cols.refs), len(self.columns["pdq"].refs))
        cached = self._confirmable.get(algorithm)
        if cached is None or cached[0] != size:
            names = [name for name, _ in self.lists]
            pairs = enumerate(zip(cols.refs, cols.lists, strict=True))
            keep = np.array(
                [e for e, (ref, number) in pairs if self.pdq_rows(ref, names[number])],
                dtype=np.int64,
            )
            sub = HammingIndex(ALGORITHMS[algorithm].bits, radius=self._radius[algorithm])
            if len(keep):
                sub.add(self.indexes[algorithm].rows(keep))
            cached = self._confirmable[algorithm] = (size, sub, keep)
        return cached[1], cached[2]


def _checked_hex(
    texts: list[str], kept: list, algorithm: str, skip_invalid: bool
) -> tuple[bytes, list]:
    """The bytes of hex texts of one algorithm (all checked in one call); bad ones raise, or
    are dropped from `texts` and `kept` when skip_invalid."""
    size = ALGORITHMS[algorithm].bits // 8
    try:
        raw = bytes.fromhex("".join(texts))
        if len(raw) == size * len(texts):
            return raw, kept
    except ValueError:
        pass
    good = [k for k, t in enumerate(texts) if set(t) <= _HEX_DIGITS]
    if not skip_invalid:
        bad = next(k for k, t in enumerate(texts) if not set(t) <= _HEX_DIGITS)
        normalize(algorithm, texts[bad])  # raises with the reason
    texts[:] = [texts[k] for k in good]
    kept[:] = [kept[k] for k in good]
    return bytes.fromhex("".join(texts)), kept
