"""Classification of one fetch: every rule of monitor.core.classify's table, and its precedences."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.classify import DOWN, ERROR_KINDS, Fetch, Outcome, classify, image_error_kind

URL = "http://hoster.test/img/1.jpg"


def image(**kw) -> Fetch:
    base = dict(
        url=URL,
        final_url=URL,
        http_status=200,
        content_type="image/jpeg",
        is_image=True,
        matched=True,
        distance=2,
        algorithm="phash",
    )
    base.update(kw)
    return Fetch(**base)


def test_outcome_values_and_down_set():
    assert [o.value for o in Outcome] == ["online", "removed", "dns_gone", "unreachable", "blocked"]
    assert DOWN == {Outcome.REMOVED, Outcome.DNS_GONE}
    assert Outcome("online") is Outcome.ONLINE


@pytest.mark.parametrize("status", [404, 410, 451])
def test_gone_statuses_are_removed(status):
    f = Fetch(url=URL, final_url=URL, http_status=status, content_type="text/html", is_image=False)
    assert classify(f) == (Outcome.REMOVED, f"http_{status}")


@pytest.mark.parametrize("status", [401, 403, 429])
def test_access_statuses_are_blocked(status):
    assert classify(Fetch(url=URL, http_status=status)) == (Outcome.BLOCKED, f"http_{status}")


@pytest.mark.parametrize("status", [500, 502, 503, 504, 400, 408, 302, 101, 999])
def test_server_failures_and_odd_codes_are_unreachable(status):
    assert classify(Fetch(url=URL, http_status=status)) == (Outcome.UNREACHABLE, f"http_{status}")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("dns_nxdomain", (Outcome.DNS_GONE, "nxdomain")),
        ("dns_error", (Outcome.UNREACHABLE, "dns_error")),
        ("timeout", (Outcome.UNREACHABLE, "timeout")),
        ("refused", (Outcome.UNREACHABLE, "refused")),
        ("reset", (Outcome.UNREACHABLE, "reset")),
        ("tls", (Outcome.UNREACHABLE, "tls")),
        ("too_large", (Outcome.UNREACHABLE, "too_large")),
        ("ssrf_refused", (Outcome.UNREACHABLE, "ssrf_refused")),
        ("other", (Outcome.UNREACHABLE, "other_error")),
        ("something-new", (Outcome.UNREACHABLE, "other_error")),
    ],
)
def test_errors_without_a_response(error, expected):
    assert classify(Fetch(url=URL, error=error)) == expected


def test_no_status_and_no_error_is_not_evidence():
    assert classify(Fetch(url=URL)) == (Outcome.UNREACHABLE, "other_error")


@pytest.mark.parametrize("error", ["too_large", "reset", "timeout"])
def test_a_2xx_body_that_broke_off_is_unreachable(error):
    f = image(error=error, is_image=None, matched=None)
    assert classify(f) == (Outcome.UNREACHABLE, error)


def test_matching_image_is_online():
    assert classify(image()) == (Outcome.ONLINE, "hash_match")
    assert classify(image(http_status=203)) == (Outcome.ONLINE, "hash_match")


def test_other_image_is_content_changed():
    assert classify(image(matched=False, distance=40)) == (Outcome.REMOVED, "content_changed")


def test_no_baseline_first_decodable_image_is_first_check():
    assert classify(image(matched=None, distance=None)) == (Outcome.ONLINE, "first_check")


def test_placeholder_is_removed_and_beats_a_failed_match_and_first_check():
    assert classify(image(placeholder=True, matched=False)) == (Outcome.REMOVED, "placeholder")
    assert classify(image(placeholder=True, matched=None)) == (Outcome.REMOVED, "placeholder")
    # a match is decisive: the material is served, whatever else was flagged
    assert classify(image(placeholder=True, matched=True)) == (Outcome.ONLINE, "hash_match")


def test_html_where_the_image_was_is_not_an_image():
    f = image(content_type="text/html; charset=utf-8", is_image=False, matched=None)
    assert classify(f) == (Outcome.REMOVED, "not_an_image")
    # the spider did not even try to decode an HTML body
    f = image(content_type="text/html", is_image=None, matched=None)
    assert classify(f) == (Outcome.REMOVED, "not_an_image")
    # an HTML body the hasher tried and failed on is still HTML, not a corrupt image
    f = image(
        content_type="text/html", is_image=False, image_error="cannot identify image", matched=None
    )
    assert classify(f) == (Outcome.REMOVED, "not_an_image")


def test_corrupt_image_is_removed_with_its_own_reason():
    f = image(is_image=False, image_error="corrupt", matched=None)
    assert classify(f) == (Outcome.REMOVED, "corrupt_image")
    f = image(content_type="image/png", is_image=False, matched=None)
    assert classify(f) == (Outcome.REMOVED, "corrupt_image")
    f = image(
        content_type="application/octet-stream",
        is_image=False,
        image_error="truncated",
        matched=None,
    )
    assert classify(f) == (Outcome.REMOVED, "corrupt_image")
    f = image(content_type=None, is_image=False, matched=None)
    assert classify(f) == (Outcome.REMOVED, "not_an_image")


@pytest.mark.parametrize(
    "image_error",
    [
        "decompression_bomb",
        "too_large",
        "decompression_bomb: 30000x30000 pixels > 50000000",
        "decompression_bomb: more pixels than PIL allows",
        "too_large: out of memory while decoding",
    ],
)
@pytest.mark.parametrize(
    "content_type", ["image/png", "text/html", None, "application/octet-stream", "text/plain"]
)
def test_undecodably_large_image_is_not_evidence(image_error, content_type):
    f = image(is_image=False, image_error=image_error, matched=None, content_type=content_type)
    assert classify(f) == (Outcome.UNREACHABLE, "too_large")
    # a bomb where a baseline exists is no evidence either
    f = image(is_image=False, image_error=image_error, matched=False, content_type=content_type)
    assert classify(f) == (Outcome.UNREACHABLE, "too_large")


def test_image_error_kind_is_the_text_before_the_colon():
    assert image_error_kind("decompression_bomb: 30000x30000 pixels > 50000000") == (
        "decompression_bomb"
    )
    assert image_error_kind("corrupt: OSError") == "corrupt" and image_error_kind(None) is None
    f = image(
        is_image=False, image_error="corrupt: OSError", matched=None, content_type="image/png"
    )
    assert classify(f) == (Outcome.REMOVED, "corrupt_image")


def test_nothing_decoded_with_image_type_is_not_hashed():
    assert classify(image(is_image=None, matched=None)) == (Outcome.UNREACHABLE, "not_hashed")
    assert classify(image(content_type=None, is_image=None, matched=None)) == (
        Outcome.UNREACHABLE,
        "not_hashed",
    )


def test_redirect_to_front_page_is_redirect_away_whatever_follows():
    hops = ((URL, 302),)
    front = "http://hoster.test/"
    for final in (
        dict(http_status=200, content_type="text/html", is_image=False),
        dict(http_status=503),
        dict(http_status=403),
        dict(error="timeout"),
    ):
        f = Fetch(url=URL, final_url=front, redirects=hops, final_is_front_page=True, **final)
        assert classify(f) == (Outcome.REMOVED, "redirect_away")


def test_front_page_flag_needs_an_actual_redirect():
    root = "http://hoster.test/"
    f = Fetch(
        url=root,
        final_url=root,
        http_status=200,
        content_type="text/html",
        is_image=False,
        final_is_front_page=True,
    )
    assert classify(f) == (Outcome.REMOVED, "not_an_image")
    f = Fetch(
        url=root,
        final_url=root,
        http_status=200,
        gallery=True,
        is_image=True,
        matched=True,
        final_is_front_page=True,
    )
    assert classify(f) == (Outcome.ONLINE, "hash_match")


@pytest.mark.parametrize(
    ("status", "otherwise"),
    [
        (404, Outcome.REMOVED),
        (410, Outcome.REMOVED),
        (451, Outcome.REMOVED),
        (401, Outcome.BLOCKED),
        (403, Outcome.BLOCKED),
        (429, Outcome.BLOCKED),
        (500, Outcome.UNREACHABLE),
        (503, Outcome.UNREACHABLE),
        (400, Outcome.UNREACHABLE),
        (302, Outcome.UNREACHABLE),
    ],
)
@pytest.mark.parametrize("content_type", ["image/jpeg", "text/html", None])
def test_a_status_never_outweighs_a_matching_body(status, otherwise, content_type):
    """A hostile hoster serving the material with 404/403/503: it is served (rule 0). Only a
    body that does not match keeps the status rule (a 404 placeholder image is removed)."""
    f = image(http_status=status, content_type=content_type, algorithm="sha256", distance=0)
    assert classify(f) == (Outcome.ONLINE, "hash_match")
    for kw in (
        dict(matched=False, distance=40),
        dict(matched=None, is_image=None),
        dict(matched=False, placeholder=True),
    ):
        outcome, reason = classify(image(http_status=status, content_type=content_type, **kw))
        assert (outcome, reason) == (otherwise, f"http_{status}")


def test_a_redirect_away_whose_body_matches_is_online():
    front = "http://hoster.test/"
    for status in (200, 404, 503):
        f = image(
            final_url=front,
            redirects=((URL, 302),),
            final_is_front_page=True,
            http_status=status,
            content_type="text/html",
        )
        assert classify(f) == (Outcome.ONLINE, "hash_match")
        f = image(
            final_url=front,
            redirects=((URL, 302),),
            final_is_front_page=True,
            http_status=status,
            matched=False,
        )
        assert classify(f) == (Outcome.REMOVED, "redirect_away")


def test_redirect_elsewhere_is_judged_by_what_it_serves():
    cdn = "http://cdn.hoster.test/1.jpg"
    f = image(final_url=cdn, redirects=((URL, 301),))
    assert classify(f) == (Outcome.ONLINE, "hash_match")
    f = Fetch(url=URL, final_url=cdn, redirects=((URL, 301),), http_status=404)
    assert classify(f) == (Outcome.REMOVED, "http_404")


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (dict(is_image=True, matched=True), (Outcome.ONLINE, "hash_match")),
        (dict(is_image=True, matched=False), (Outcome.REMOVED, "content_changed")),
        (dict(is_image=True, matched=None), (Outcome.ONLINE, "first_check")),
        (dict(is_image=False, matched=None), (Outcome.REMOVED, "no_images")),
        (dict(is_image=None, matched=None), (Outcome.REMOVED, "no_images")),
    ],
)
def test_gallery_pages(kw, expected):
    page = "http://hoster.test/gallery/7"
    f = Fetch(
        url=page, final_url=page, http_status=200, content_type="text/html", gallery=True, **kw
    )
    assert classify(f) == expected


fetches = st.builds(
    Fetch,
    url=st.just(URL),
    final_url=st.sampled_from([URL, "http://hoster.test/", ""]),
    http_status=st.one_of(st.none(), st.integers(100, 599)),
    error=st.one_of(st.none(), st.sampled_from(sorted(ERROR_KINDS))),
    redirects=st.sampled_from([(), ((URL, 302),)]),
    content_type=st.sampled_from([None, "image/jpeg", "text/html"]),
    is_image=st.one_of(st.none(), st.booleans()),
    image_error=st.sampled_from([None, "corrupt", "decompression_bomb"]),
    matched=st.one_of(st.none(), st.booleans()),
    placeholder=st.booleans(),
    final_is_front_page=st.booleans(),
    gallery=st.booleans(),
)


@given(fetches)
def test_online_only_on_a_hash_match_or_first_check(f):
    outcome, reason = classify(f)
    assert isinstance(outcome, Outcome) and reason
    if outcome is Outcome.ONLINE:
        assert f.http_status is not None and f.error is None
        # a non-2xx status is online only when its body matched (rule 0)
        assert 200 <= f.http_status < 300 or (f.matched is True and reason == "hash_match")
        assert not f.placeholder or f.matched is True
        assert f.matched is True or (f.matched is None and reason == "first_check")
    read_and_matched = f.matched is True and f.error is None and f.http_status is not None
    assert (outcome, reason) == (Outcome.ONLINE, "hash_match") or not read_and_matched
    # (row 1 comes first: a redirect, recorded or seen in the final URL, that ended on the
    # front page is a removal whatever that page answers)
    redirected = bool(f.redirects) or bool(f.final_url and f.final_url != f.url)
    if (
        f.http_status in (401, 403, 429)
        and not (f.final_is_front_page and redirected)
        and not read_and_matched
    ):
        assert outcome is Outcome.BLOCKED


@given(
    st.builds(
        Fetch,
        url=st.just(URL),
        final_url=st.sampled_from([URL, "http://hoster.test/", "http://other.test/x", ""]),
        http_status=st.one_of(
            st.integers(100, 599),
            st.sampled_from([200, 206, 301, 302, 304, 401, 403, 404, 410, 429, 451, 500, 503, 999]),
        ),
        error=st.none(),
        redirects=st.sampled_from([(), ((URL, 302),), ((URL, 301), ("http://hoster.test/", 302))]),
        content_type=st.sampled_from(
            [
                None,
                "",
                "image/jpeg",
                "text/html",
                "text/html; charset=utf-8",
                "application/octet-stream",
                "text/plain",
                "application/json",
            ]
        ),
        is_image=st.one_of(st.none(), st.booleans()),
        image_error=st.one_of(
            st.none(),
            st.sampled_from(
                [
                    "corrupt: OSError",
                    "not_image: unrecognised format",
                    "decompression_bomb: 9x9 > 8",
                    "too_large: out of memory while decoding",
                    "html page without images",
                ]
            ),
        ),
        matched=st.just(True),
        distance=st.one_of(st.none(), st.integers(0, 31)),
        algorithm=st.sampled_from([None, "sha256", "md5", "phash", "pdq"]),
        placeholder=st.booleans(),
        final_is_front_page=st.booleans(),
        gallery=st.booleans(),
    )
)
def test_a_body_matching_the_baseline_is_never_removed(f):
    """Whatever the status, headers, flags and redirects, a body read whole that matches the
    baseline (exact digest or perceptual hash) is the reported material being served."""
    assert classify(f) == (Outcome.ONLINE, "hash_match")


# (a response was read, so its name resolved: DNS errors never come with a status)
@given(
    st.sampled_from(sorted(ERROR_KINDS - {"dns_nxdomain", "dns_error"})),
    st.integers(200, 299),
    st.booleans(),
)
def test_a_match_with_a_broken_body_is_still_never_removed(error, status, gallery):
    outcome, _ = classify(
        Fetch(
            url=URL, final_url=URL, http_status=status, error=error, matched=True, gallery=gallery
        )
    )
    assert outcome not in DOWN
