"""hashes.match: one-to-one baseline comparison and one-to-many matching policy."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import ImageOps

from hashes import synthetic
from hashes.compute import compute, hamming
from hashes.formats import HashFormatError
from hashes.match import Comparison, Match, Matcher, compare_to_baseline


@pytest.fixture(scope="module")
def imgs() -> dict:
    base = synthetic.image(21, (480, 360))
    other = synthetic.image(22, (480, 360))
    return {
        "base": compute(synthetic.encode(base, "JPEG", quality=90)),
        "recompressed": compute(synthetic.encode(base, "JPEG", quality=50)),
        "cropped": compute(synthetic.encode(base.crop((12, 9, 468, 351)), "JPEG")),
        "mirror": compute(synthetic.encode(ImageOps.mirror(base), "PNG")),
        "other": compute(synthetic.encode(other, "JPEG")),
        "tiny": compute(synthetic.encode(base.resize((48, 36)), "PNG")),
        "text": compute(b"<html>placeholder</html>"),
    }


def _baseline(h) -> list[tuple[str, str]]:
    return [("pdq", h.pdq), ("phash", h.phash), ("sha256", h.sha256)]


def test_compare_exact_digest(imgs) -> None:
    b = imgs["base"]
    assert compare_to_baseline(_baseline(b), b) == Comparison("sha256", 0, True)
    text = imgs["text"]
    assert compare_to_baseline([("MD5", text.md5.upper())], text) == Comparison("md5", 0, True)


def test_compare_near_duplicate_and_different(imgs) -> None:
    c = compare_to_baseline(_baseline(imgs["base"]), imgs["recompressed"])
    assert c is not None and c.matched and c.algorithm == "pdq" and c.distance <= 31
    d = compare_to_baseline(_baseline(imgs["base"]), imgs["other"])
    assert d is not None and not d.matched and d.algorithm == "pdq" and d.distance > 31


def test_compare_mirror_by_phash_and_dihedral(imgs) -> None:
    base, mirror = imgs["base"], imgs["mirror"]
    c = compare_to_baseline([("phash", base.phash)], mirror)
    assert c.matched and c.algorithm == "phash"
    assert hamming(base.phash, mirror.phash) > 10  # found only through the mirror variant
    assert compare_to_baseline([("pdq", base.pdq)], mirror).matched


def test_compare_nothing_comparable(imgs) -> None:
    assert compare_to_baseline([("pdq", imgs["base"].pdq)], imgs["text"]) is None
    assert compare_to_baseline([], imgs["base"]) is None
    c = compare_to_baseline([("sha1", imgs["base"].sha1)], imgs["text"])
    assert c == Comparison("sha1", 1, False)


def test_compare_unusable_image_never_matches_perceptually(imgs) -> None:
    tiny = imgs["tiny"]
    assert tiny.ok and not tiny.usable
    c = compare_to_baseline([("phash", tiny.phash)], tiny)
    assert c == Comparison("phash", 0, False)
    assert compare_to_baseline([("md5", tiny.md5)], tiny).matched


def test_matcher_strong_exact_and_best_first(imgs) -> None:
    m = Matcher()
    base = imgs["base"]
    m.add("r1", "pdq", base.pdq, list_name="reports")
    m.add("r2", "sha256", imgs["recompressed"].sha256, list_name="list-a", label="x")
    m.add("r3", "pdq", imgs["other"].pdq, list_name="reports")
    found = m.match(imgs["recompressed"])
    assert [x.ref for x in found] == ["r2", "r1"]
    assert found[0] == Match("r2", "sha256", 0, "list-a", "x", "exact")
    assert found[1].strength == "strong" and found[1].algorithm == "pdq"
    assert m.match(imgs["mirror"])[0].ref == "r1"  # dihedral variants
    assert m.match(imgs["text"]) == []


def test_matcher_phash_alone_is_only_a_candidate(imgs) -> None:
    m = Matcher()
    base = imgs["base"]
    m.add("p", "phash", base.phash, list_name="l")
    assert m.match(imgs["recompressed"]) == []
    cands = m.candidates(imgs["recompressed"])
    assert len(cands) == 1 and cands[0].strength == "candidate" and cands[0].algorithm == "phash"
    # the same reference also has a PDQ hash that agrees: confirmed
    m.add("p", "pdq", base.pdq, list_name="l")
    strong = m.match(imgs["recompressed"])
    assert [(x.ref, x.strength) for x in strong] == [("p", "strong")]


def test_matcher_phash_confirmed_by_looser_pdq_agreement(imgs) -> None:
    base, recompressed = imgs["base"], imgs["cropped"]
    d = hamming(base.pdq, recompressed.pdq)
    assert d > 0 and hamming(base.phash, recompressed.phash) <= 10
    m = Matcher(pdq_threshold=d - 1, pdq_agree_threshold=d)
    m.add(("report", 1), "phash", base.phash, list_name="reports")
    m.add(("report", 1), "pdq", base.pdq, list_name="reports")
    found = m.match(recompressed)
    assert len(found) == 1 and found[0].algorithm == "phash+pdq"
    strict = Matcher(pdq_threshold=d - 1, pdq_agree_threshold=d - 1)
    strict.add(("report", 1), "phash", base.phash, list_name="reports")
    strict.add(("report", 1), "pdq", base.pdq, list_name="reports")
    assert strict.match(recompressed) == [] and len(strict.candidates(recompressed)) == 1


def test_matcher_allowlist_suppresses(imgs) -> None:
    m = Matcher()
    base = imgs["base"]
    m.add("bad", "pdq", base.pdq, list_name="hotline")
    assert m.match(imgs["recompressed"])
    m.add("stock", "md5", imgs["recompressed"].md5, list_name="benign", allowlist=True)
    assert m.match(imgs["recompressed"]) == [] and m.candidates(imgs["recompressed"]) == []
    assert m.match(base)  # other images still match


def test_matcher_unusable_only_exact(imgs) -> None:
    m = Matcher()
    tiny = imgs["tiny"]
    m.add("t", "pdq", tiny.pdq, list_name="l")
    assert m.match(tiny) == []
    m.add("t2", "md5", tiny.md5, list_name="l")
    assert [x.ref for x in m.match(tiny)] == ["t2"]
    assert m.match(replace(tiny, ok=False)) == [Match("t2", "md5", 0, "l", None, "exact")]


def test_matcher_add_many_and_validation(imgs) -> None:
    m = Matcher()
    n = m.add_many(
        [(i, "pdq", compute(synthetic.jpeg(i, (200, 150))).pdq, f"img{i}") for i in range(5)],
        list_name="bulk",
    )
    assert n == 5 and len(m) == 5
    found = m.match(compute(synthetic.jpeg(3, (200, 150), quality=60)))
    assert [(x.ref, x.label) for x in found] == [(3, "img3")]
    with pytest.raises(HashFormatError):
        m.add("x", "pdq", "zz", list_name="bulk")
    with pytest.raises(HashFormatError):
        m.add("x", "photodna", "00", list_name="bulk")


def test_matcher_batch_of_real_images_equals_one_by_one(imgs) -> None:
    m = Matcher()
    base = imgs["base"]
    m.add("r1", "pdq", base.pdq, list_name="reports")
    m.add("r1", "phash", base.phash, list_name="reports")
    m.add("r2", "sha256", imgs["recompressed"].sha256, list_name="list-a")
    m.add("r3", "phash", imgs["other"].phash, list_name="list-b")
    m.add("ok", "md5", imgs["tiny"].md5, list_name="benign", allowlist=True)
    hs = list(imgs.values()) + [imgs["mirror"], base]
    assert m.candidates_many(hs) == [m.candidates(h) for h in hs]
    assert m.match_many(hs) == [m.match(h) for h in hs]
    found = m.match_many(hs)
    assert [x.ref for x in found[0]] == ["r1"] and [x.ref for x in found[1]] == ["r2", "r1"]
    assert found[3] and found[3][0].ref == "r1"  # the mirror, through a dihedral variant
    assert found[4] == [] and found[5] == []  # other: a pHash candidate only; tiny: allowlisted
