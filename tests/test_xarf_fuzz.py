"""Every XARF we send validates against the official XARF v4 schemas (jsonschema, with format
checks) and the `xarf` package, for any input: poisoned case references (dots, unicode, control
characters, very long) and hosts (punycode, underscores, IP literals, IPv6, unicode). Strict mode
of the `xarf` package may only ask for the fields we must not or cannot honestly send."""

from __future__ import annotations

import email
import email.policy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerts import mail, xarf
from monitor.alerts.xarf_check import check, schema_errors
from monitor.core import clock
from monitor.core.config import AlertsConfig

pytest.importorskip("xarf")
pytest.importorskip("jsonschema")
pytest.importorskip("rfc3986_validator")  # jsonschema checks the `uri` format only with it

CONFIG = AlertsConfig()
KEY = "ab" * 32
HOSTS = st.one_of(
    st.sampled_from(
        [
            "mirror.example",
            "xn--bcher-kva.example",
            "b\u00fccher.example",
            "under_score.example",
            "UPPER.Example",
            "a.b.c.d.example",
            "example",
            "xn--p1ai",
            "127.0.0.1",
            "[::1]",
            "[2001:db8::7]",
            "10.0.0.1",
            "host-.example",
            "-lead.example",
            "1.2.3.4.example",
            "tr\u00e4iling.",
            "a" * 70 + ".example",
            "x.y",
        ]
    ),
    st.from_regex(r"[a-z0-9_\-\.]{1,40}", fullmatch=True),
    st.text(min_size=1, max_size=30).filter(lambda h: not set(h) & set("/?#@[]:\\")),
)
REFERENCES = st.one_of(
    st.sampled_from(
        [
            "NL-2026.001",
            "NL-2026-001/reupload-3",
            "...",
            "-",
            "_x",
            "\r\nBcc: a@b",
            "\u6848\u4ef6-7",
            "\u0130stanbul",
            "x" * 5000,
            "known:series-7/reupload-1",
        ]
    ),
    st.text(max_size=300),
    st.none(),
)
PATHS = st.text(max_size=60).map(lambda p: "/" + p.replace("#", "%23").replace("?", "%3F"))
MATCHES = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "algorithm": st.sampled_from(["pdq", "phash", "dhash", "sha256", "md5", "bogus"]),
            "distance": st.one_of(st.integers(-5, 300), st.none()),
        }
    ),
)
HASHES = st.dictionaries(
    st.sampled_from(["pdq", "phash", "sha256", "md5", "sha1"]),
    st.one_of(st.from_regex(r"[0-9a-f]{16,64}", fullmatch=True), st.text(max_size=20)),
    max_size=4,
)


def item(host: str, path: str, reference: str | None, match, hashes, **extra) -> dict:
    return {
        "kind": extra.get("kind", "reupload"),
        "url": f"http://{host}{path}",
        "page_url": None,
        "first_seen_at": "2026-03-02T10:00:00Z",
        "last_seen_at": "2026-03-02T11:00:00Z",
        "ip": extra.get("ip"),
        "asn": extra.get("asn"),
        "hoster": extra.get("hoster"),
        "reference": reference,
        "original_reference": reference,
        "match": match,
        "hashes": hashes,
    }


def allowed_strict_gaps(report: dict) -> set[str]:
    gaps = set(xarf.NOT_SENT)
    if "domain" not in report:  # host an IP, or a name the schema's pattern rejects
        gaps.add("domain")
    if "confidence" not in report:  # no match distance known
        gaps.add("confidence")
    return gaps


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    host=HOSTS,
    path=PATHS,
    reference=REFERENCES,
    match=MATCHES,
    hashes=HASHES,
    ip=st.one_of(st.none(), st.sampled_from(["127.0.0.2", "::1", "x\r\ny"])),
    asn=st.one_of(st.none(), st.integers(-1, 2**33)),
    hoster=st.one_of(st.none(), st.text(max_size=300)),
    kind=st.sampled_from(["reupload", "reappearance"]),
    country=st.one_of(st.none(), st.text(max_size=3)),
)
def test_every_report_validates_for_any_input(
    host, path, reference, match, hashes, ip, asn, hoster, kind, country
):
    subject = item(host, path, reference, match, hashes, ip=ip, asn=asn, hoster=hoster, kind=kind)
    report = xarf.build(subject, idempotency_key=KEY, config=CONFIG, country=country)
    json.dumps(report)
    assert schema_errors(report) == []
    result = check(report)
    assert result.valid, result.errors
    assert result.strict_other == ()
    assert set(result.strict_missing) <= allowed_strict_gaps(report), result.strict_missing
    assert "evidence" not in report


@pytest.mark.parametrize(
    "reference, tag",
    [
        ("NL-2026.001", "case:nl-2026-001"),
        ("NL-2026.001/reupload-4", "case:nl-2026-001-reupload-4"),
        ("..NL", "case:nl"),
        ("\u6848\u4ef6", None),
    ],
)
def test_case_tags_follow_the_schema_pattern(reference, tag):
    report = xarf.build(
        item("mirror.example", "/a.jpg", reference, None, {}), idempotency_key=KEY, config=CONFIG
    )
    cases = [t for t in report["tags"] if t.startswith("case:")]
    assert cases == ([tag] if tag else [])


@pytest.mark.parametrize(
    "host, domain",
    [
        ("mirror.example", "mirror.example"),
        ("Mirror.Example", "mirror.example"),
        ("xn--bcher-kva.example", None),
        ("under_score.example", None),
        ("127.0.0.1", None),
        ("[2001:db8::1]", None),
        ("localhost", None),
    ],
)
def test_domain_is_sent_whenever_the_schema_accepts_the_host(host, domain):
    report = xarf.build(item(host, "/a.jpg", "NL-1", None, {}), idempotency_key=KEY, config=CONFIG)
    assert report.get("domain") == domain


def test_confidence_comes_from_the_match_distance():
    def sure(match):
        return xarf.build(
            item("m.example", "/", "R", match, {}), idempotency_key=KEY, config=CONFIG
        ).get("confidence")

    assert sure({"algorithm": "pdq", "distance": 0}) == 1.0
    assert sure({"algorithm": "pdq", "distance": 32}) == 0.875
    assert sure({"algorithm": "phash", "distance": 8}) == 0.875
    assert sure({"algorithm": "sha256", "distance": 0}) == 1.0
    assert sure(None) is None


@settings(max_examples=60, deadline=None)
@given(host=HOSTS, reference=REFERENCES, hoster=st.text(max_size=80))
def test_poisoned_fields_never_break_the_e_mail(host, reference, hoster):
    entries = [
        {
            "id": 1,
            "idempotency_key": KEY,
            "item": item(
                host, "/a.jpg", reference, {"algorithm": "pdq", "distance": 3}, {"pdq": "f" * 64}
            ),
        }
    ]
    msg = mail.render(
        {"name": hoster, "abuse_email": "abuse@mirror.example", "country": "NL"},
        entries,
        CONFIG,
        clock.parse("2026-03-02T10:00:00Z"),
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None and "\n" not in str(parsed["Subject"])
    for part in msg.iter_attachments():
        assert check(json.loads(part.get_payload(decode=True))).valid
