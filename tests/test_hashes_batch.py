"""hashes.match batch matching: `match_many`/`candidates_many` (and `match`/`candidates`, which
go through them) give exactly what a brute-force reading of the match policy gives: every entry
compared by Python integers, no index. Hash sets: uniform random, clusters of near-duplicates,
low-entropy hashes, entries exactly at and one past each threshold, allowlists, exact digests,
pHash hits confirmed (or not) by the same reference's PDQ; both index layouts and the scan."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

import hashes.index as hi
from hashes.compute import MediaHashes
from hashes.formats import ALGORITHMS, HashFormatError
from hashes.match import EXACT, Match, Matcher

PHASH_T, PDQ_T, AGREE_T = 10, 31, 48


def _hex(value: int, bits: int) -> str:
    return f"{value:0{bits // 4}x}"


def _near(rng: random.Random, hex_: str, k: int) -> str:
    bits = len(hex_) * 4
    value = int(hex_, 16)
    for b in rng.sample(range(bits), k):
        value ^= 1 << b
    return _hex(value, bits)


def _image(rng: random.Random, pdq_bits: int = 256) -> MediaHashes:
    pdq = _hex(rng.getrandbits(pdq_bits), 256)
    dihedral = (pdq,) + tuple(_hex(rng.getrandbits(256), 256) for _ in range(7))
    return MediaHashes(
        ok=True,
        error=None,
        format="jpeg",
        width=640,
        height=480,
        phash=_hex(rng.getrandbits(64), 64),
        dhash=_hex(rng.getrandbits(64), 64),
        pdq=pdq,
        pdq_quality=100,
        sha256=_hex(rng.getrandbits(256), 256),
        sha1=_hex(rng.getrandbits(160), 160),
        md5=_hex(rng.getrandbits(128), 128),
        phash_mirror=_hex(rng.getrandbits(64), 64),
        pdq_dihedral=dihedral,
        usable=True,
    )


def _variants(h: MediaHashes, algorithm: str) -> list[str]:
    if algorithm == "pdq":
        return list(h.pdq_dihedral) or ([h.pdq] if h.pdq else [])
    if algorithm == "phash":
        return [v for v in (h.phash, h.phash_mirror) if v]
    return [h.dhash] if h.dhash else []


def _dist(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _order(m: Match) -> tuple:
    bits = ALGORITHMS[m.algorithm.split("+")[0]].bits
    return ({"exact": 0, "strong": 1, "candidate": 2}[m.strength], m.distance / bits, str(m.ref))


def oracle(entries: list[tuple], h: MediaHashes) -> list[Match]:
    """The policy, brute force: entries are (ref, algorithm, hex, list, label, allowlist)."""
    best: dict = {}

    def offer(e: tuple, m: Match) -> None:
        key = (e[0], e[3])
        if key not in best or _order(m) < _order(best[key][0]):
            best[key] = (m, e[5])

    for algorithm in EXACT:
        for e in entries:
            if e[1] == algorithm and e[2] == getattr(h, algorithm):
                offer(e, Match(e[0], algorithm, 0, e[3], e[4], "exact"))
    if h.ok and h.usable:
        for algorithm, radius in (("pdq", PDQ_T), ("phash", PHASH_T), ("dhash", PHASH_T)):
            rows = [(i, e) for i, e in enumerate(entries) if e[1] == algorithm]
            dist: dict[int, int] = {}
            for q in _variants(h, algorithm):
                hits = sorted((_dist(q, e[2]), i) for i, e in rows if _dist(q, e[2]) <= radius)
                for d, i in hits:
                    dist[i] = min(d, dist.get(i, d))
            for i, d in dist.items():
                e = entries[i]
                if algorithm == "pdq":
                    offer(e, Match(e[0], "pdq", d, e[3], e[4], "strong"))
                    continue
                theirs = [x[2] for x in entries if x[1] == "pdq" and (x[0], x[3]) == (e[0], e[3])]
                agree = [_dist(a, b) for a in theirs for b in _variants(h, "pdq")]
                strong = bool(agree) and min(agree) <= AGREE_T
                offer(
                    e,
                    Match(
                        e[0],
                        f"{algorithm}+pdq" if strong else algorithm,
                        d,
                        e[3],
                        e[4],
                        "strong" if strong else "candidate",
                    ),
                )
    if any(allow and m.strength != "candidate" for m, allow in best.values()):
        return []
    return sorted((m for m, allow in best.values() if not allow), key=_order)


def _world(rng: random.Random, background: int) -> tuple[list[tuple], list[MediaHashes]]:
    """Entries and images: background noise plus planted near-duplicates of every kind."""
    hs = [_image(rng) for _ in range(14)]
    low = replace(_image(rng), pdq="0" * 63 + "1", pdq_dihedral=("0" * 64, "0" * 63 + "3"))
    hs.append(low)  # a low-entropy image
    entries: list[tuple] = []

    def add(algorithm, value, *, lst="big", label=None, allow=False, ref=None):
        entries.append(
            (ref if ref is not None else ("e", len(entries)), algorithm, value, lst, label, allow)
        )

    for _ in range(background):
        add("pdq", _hex(rng.getrandbits(256), 256))
        add("phash", _hex(rng.getrandbits(64), 64))
        add("dhash", _hex(rng.getrandbits(64), 64))
    for _ in range(300):  # low-entropy entries: a few bits set
        add("pdq", _near(rng, "0" * 64, rng.randrange(0, 8)))
        add("phash", _near(rng, "0" * 16, rng.randrange(0, 5)))
    centre = hs[0].pdq_dihedral[3]
    for _ in range(200):  # a cluster around one image's rotated PDQ
        add("pdq", _near(rng, centre, rng.randrange(0, 45)), lst="cluster")
    for n, h in enumerate(hs[1:13], 1):
        v = rng.randrange(8)
        for k in (0, 12, PDQ_T, PDQ_T + 1):  # at, under and one past the threshold
            add("pdq", _near(rng, h.pdq_dihedral[v], k), label=f"pdq{k}")
        for k in (3, PHASH_T, PHASH_T + 1):
            add("phash", _near(rng, (h.phash, h.phash_mirror)[n % 2], k), ref=("r", n))
            add("dhash", _near(rng, h.dhash, k), ref=("d", n), lst="dl")
        if n % 3 == 0:  # the same reference's PDQ agrees (but is no strong match itself)
            add("pdq", _near(rng, h.pdq, 40), ref=("r", n))
        elif n % 3 == 1:  # disagrees
            add("pdq", _near(rng, h.pdq, AGREE_T + 1), ref=("r", n))
        add("md5" if n % 2 else "sha1", h.md5 if n % 2 else h.sha1, lst="digests", ref=("x", n))
    add("sha256", hs[4].sha256, lst="benign", allow=True)  # allowlisted exact
    add("pdq", _near(rng, hs[5].pdq, 5), lst="benign", allow=True)  # allowlisted strong
    add("phash", _near(rng, hs[6].phash, 2), lst="benign", allow=True)  # candidate only
    add("pdq", _near(rng, hs[7].pdq, 20), lst="other", ref=("x", 7))  # same ref, other list
    t = hs[13]  # ties and variants: first offered wins, least distance over variants counts
    add("pdq", _near(rng, t.pdq, 12), ref=("t", 1), lst="ties", label="first")
    add("pdq", _near(rng, t.pdq, 12), ref=("t", 1), lst="ties", label="second")
    add("pdq", _near(rng, t.pdq, 8), ref=("t", 2), lst="ties")  # 8/256 ties pHash 2/64
    add("phash", _near(rng, t.phash, 2), ref=("t", 2), lst="ties")
    v1 = _near(rng, t.pdq, 15)
    t = replace(t, pdq_dihedral=(t.pdq, v1) + t.pdq_dihedral[2:])
    hs[13] = t
    add("pdq", _near(rng, v1, 5), ref=("t", 3), lst="ties")  # nearer the second variant
    bad = replace(hs[8], ok=False)
    unusable = replace(hs[9], usable=False)
    images = hs + [hs[2], bad, unusable, hs[10], replace(hs[11], pdq_dihedral=())]
    return entries, images


def _matcher(entries: list[tuple]) -> Matcher:
    m = Matcher(phash_threshold=PHASH_T, pdq_threshold=PDQ_T, pdq_agree_threshold=AGREE_T)
    lists: dict = {}
    for ref, algorithm, value, lst, label, allow in entries:
        lists.setdefault((lst, allow), []).append((ref, algorithm, value, label))
    for (lst, allow), rows in lists.items():
        assert m.add_many(rows, list_name=lst, allowlist=allow) == len(rows)
    return m


@pytest.mark.parametrize("background", [0, 4000])
@pytest.mark.parametrize("layout", ["chosen", "p21"])
def test_batch_equals_brute_force_policy(background: int, layout: str, monkeypatch) -> None:
    if layout == "p21":
        monkeypatch.setattr(hi, "_layout", lambda n, words, radius: hi.PARTS)
    rng = random.Random(background + len(layout))
    entries, images = _world(rng, background)
    m = _matcher(entries)
    expected = [oracle(entries, h) for h in images]
    assert sum(len(e) for e in expected) > 40  # the planted matches are there
    assert {x.algorithm for e in expected for x in e} >= {
        "pdq",
        "phash",
        "phash+pdq",
        "md5",
        "sha1",
        "dhash",
    }
    assert m.candidates_many(images) == expected
    assert [m.candidates(h) for h in images] == expected
    confirmed = [[x for x in e if x.strength != "candidate"] for e in expected]
    assert m.match_many(images) == confirmed
    assert [m.match(h) for h in images] == confirmed
    assert m.match_many([]) == []


def test_identical_images_are_searched_once_and_answered_apart(monkeypatch) -> None:
    rng = random.Random(3)
    entries, images = _world(rng, 500)
    m = _matcher(entries)
    seen: list[int] = []
    search = Matcher._search
    monkeypatch.setattr(
        Matcher, "_search", lambda self, hs, *a: seen.append(len(hs)) or search(self, hs, *a)
    )
    h = images[1]
    out = m.match_many([h, replace(h), h])
    assert seen == [1] and out[0] == out[1] == out[2] == oracle(entries, h)[: len(out[0])]
    assert out[0] and out[0] is not out[1]  # each answer is its own list
    out[0].clear()
    assert out[1]


def test_incremental_adds_between_batches() -> None:
    rng = random.Random(5)
    h = _image(rng)
    m = Matcher()
    m.add("p", "phash", _near(rng, h.phash, 4), list_name="l")
    assert [x.strength for x in m.candidates_many([h])[0]] == ["candidate"]
    assert m.match_many([h]) == [[]]  # (it searches only pHash entries a PDQ can confirm)
    m.add("p", "pdq", _near(rng, h.pdq, 40), list_name="l")  # now the PDQ agrees
    assert [(x.algorithm, x.strength) for x in m.match_many([h])[0]] == [("phash+pdq", "strong")]
    m.add_many([(i, "pdq", _hex(rng.getrandbits(256), 256)) for i in range(5000)], list_name="bulk")
    m.add("q", "pdq", _near(rng, h.pdq_dihedral[5], PDQ_T), list_name="bulk")
    assert [(x.ref, x.distance) for x in m.match(h)] == [("p", 4), ("q", PDQ_T)]  # 4/64 first


def test_add_many_is_all_or_nothing_unless_skipping() -> None:
    rng = random.Random(7)
    h = _image(rng)
    m = Matcher()
    good = [("a", "pdq", h.pdq), ("b", "md5", h.md5.upper()), ("c", "phash", "0x" + h.phash)]
    for bad in (
        ("x", "pdq", "zz" * 32),
        ("x", "phash", "12"),
        ("x", "photodna", "00"),
        ("x", "md5", "g" * 32),
    ):
        with pytest.raises(HashFormatError):
            m.add_many(good + [bad], list_name="l")
        assert len(m) == 0 and m.match(h) == []
    rows = good + [
        ("x", "pdq", "zz" * 32),
        ("y", "sha1", " " + h.sha1 + " "),
        ("z", "sha256", "1" * 63),
    ]
    assert m.add_many(rows, list_name="l", skip_invalid=True) == 4 and len(m) == 4
    assert {x.ref for x in m.match(h)} == {"a", "b", "y"}


def test_add_packed_is_add_many_without_the_rows() -> None:
    """A list loaded as one hex string per algorithm (monitor.reuploads.index.load_index) matches
    exactly as the same rows added one by one: refs, labels, lists, digests, thresholds."""
    rng = random.Random(11)
    images = [_image(rng) for _ in range(6)]
    rows: list[tuple] = []
    for n, h in enumerate(images):
        rows += [
            (f"pdq{n}", "pdq", _near(rng, h.pdq_dihedral[n % 8], PDQ_T - n % 2), f"L{n}"),
            (f"ph{n}", "phash", _near(rng, h.phash, PHASH_T + n % 2), None),
            (f"dh{n}", "dhash", _near(rng, h.dhash, 3), None),
            (f"md{n}", "md5", h.md5, f"M{n}"),
            (f"s1{n}", "sha1", h.sha1.upper(), None),
        ]
    rows += [
        (f"r{k}", a, _hex(rng.getrandbits(ALGORITHMS[a].bits), ALGORITHMS[a].bits), None)
        for k in range(300)
        for a in ("pdq", "phash", "sha256")
    ]
    by_rows, packed = Matcher(), Matcher()
    assert by_rows.add_many(rows, list_name="partner") == len(rows)
    for algorithm in ALGORITHMS:
        mine = [r for r in rows if r[1] == algorithm]
        if mine:
            assert packed.add_packed(
                algorithm,
                "".join(r[2] for r in mine),
                [r[0] for r in mine],
                [r[3] for r in mine],
                list_name="partner",
            ) == len(mine)
    assert len(packed) == len(by_rows)
    expected = by_rows.candidates_many(images)
    assert packed.candidates_many(images) == expected
    assert sum(len(ms) for ms in expected) >= 20  # the near copies are there to be found
    # a string that is not exactly that many hashes adds nothing
    for hexes, refs in (
        ("ab" * 32 + "zz" * 32, ["a", "b"]),
        ("ab" * 32, ["a", "b"]),
        ("ab" * 31 + " a" + "ab", ["a"]),
    ):
        with pytest.raises(HashFormatError):
            packed.add_packed("pdq", hexes, refs, list_name="other")
    with pytest.raises(HashFormatError):
        packed.add_packed("photodna", "00" * 8, ["a"], list_name="other")
    assert len(packed) == len(by_rows) and packed.candidates_many(images) == expected
