"""XARF v4 reports (category `content`, type `csam`) for one alert item, as plain data.

Follows the XARF v4 JSON schemas (xarf-core.json, types/content-base.json and
types/content-csam.json of the XARF specification, v4.2.0) for any input: every value taken from
an alert item is reduced to what the schema's pattern or format accepts, or left out when it
cannot be (a case reference with dots becomes tag `case:nl-2026-001`; a punycode, underscore or
IP-literal host gets no `domain`; a non-ASCII URL is percent-encoded into a URI).

Filled: the required fields, `source_port`, `evidence_source`, `domain` (whenever the host is a
name the schema's pattern accepts), `confidence` (share of agreeing hash bits: 1 - distance/bits;
1.0 for an exact hash), `media_type`, `hash_values`, `verified_at`, `verification_method`,
`content_removed: false` (at alert time the material is online), `asn`, `hosting_provider`,
`country_code`, `tags`, `description`. Behind a CDN (item `edge`): the CDN's report names it in
`hosting_provider` as an edge, not the hoster, and asks in `description` to forward to the
origin hoster; the origin's report names the CDN in front; both get tag `cdn:<name>` (the
content/csam schema has no other provider field). Never `evidence`: XARF evidence carries
content, and we never send content (docs/alerts.md lists what stays empty and why).

A video found by vPDQ (match algorithm `vpdq`, distance 100 minus the share of its frames found
in the reported video): `media_type` "video", `confidence` that share (0.97 at distance 3),
tags `detection:perceptual-hash` and `algorithm:vpdq`, and the description says vPDQ and the
share. `hash_values` holds only the digests of the file (the schema's md5/sha1/sha256), never a
vPDQ signature.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

from hashes.formats import ALGORITHMS, VIDEO_ALGORITHMS
from monitor.alerts import items
from monitor.core import clock
from monitor.core.config import AlertsConfig

VERSION = "4.2.0"
CLASSIFICATION = "baseline"  # confirmed by a hotline analyst; legal sub-category unknown
REQUIRED = (
    "xarf_version",
    "report_id",
    "timestamp",
    "reporter",
    "sender",
    "source_identifier",
    "category",
    "type",
    "url",
    "classification",
    "detection_method",
)
NOT_SENT = {
    "evidence": "XARF evidence items carry the material itself (base64 payloads): we never "
    "send or keep content; hash values identify it",
    "ncmec_report_id": "we are not NCMEC and have no CyberTipline report id to give",
    "target_brand": "an impersonated brand does not apply to CSAM",
}
_TAG_BAD = re.compile(r"[^a-z0-9_+-]+")
_DOMAIN = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}$")  # the schema's pattern
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
_HEX = {"md5": 32, "sha1": 40, "sha256": 64}
_PORTS = {"http": 80, "https": 443}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def contact_domain(config: AlertsConfig) -> str:
    return config.from_address.rpartition("@")[2].strip().lower() or "localhost"


def contact(config: AlertsConfig) -> dict[str, str]:
    """Reporter and sender: the hotline, named after its From address's domain. Raises
    ValueError when `alerts.from_address` is not an address the schema accepts."""
    domain = contact_domain(config)
    if not (_EMAIL.fullmatch(config.from_address) and _HOSTNAME.fullmatch(domain)):
        raise ValueError(
            "alerts.from_address is not a plain e-mail address "
            f"({_text(config.from_address)[:100]!r})"
        )
    return {"org": domain[:200], "contact": config.from_address, "domain": domain}


def report_id(idempotency_key: str) -> str:
    """A UUID v4 derived from the alert's idempotency key: the same alert, the same id."""
    try:
        raw = bytes.fromhex(idempotency_key)[:16]
    except ValueError:
        raw = b""
    if len(raw) < 16:
        raw = hashlib.sha256(idempotency_key.encode()).digest()[:16]
    return str(uuid.UUID(bytes=raw, version=4))


def _text(value: Any) -> str:
    return _CONTROL.sub(" ", str(value)).strip()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def tag(namespace: str, value: str) -> str | None:
    """`namespace:value` in the schema's tag pattern (lower-case letters, digits, `_+-`; starts
    with a letter or digit); None when nothing of the value is left."""
    text = _TAG_BAD.sub("-", value.lower()).lstrip("_+-")[:64].rstrip("_+-")
    return f"{namespace}:{text}" if text else None


def uri(url: str) -> str:
    """The URL as an RFC 3986 URI: IDNA host (else percent-encoded), percent-encoded path,
    query and fragment, no user info. Already valid URLs come back unchanged."""
    parts = urlsplit(_CONTROL.sub("", url))
    host = parts.hostname or ""
    if ":" in host:
        netloc = f"[{host}]"
    else:
        try:
            ascii_host = host.encode("idna").decode("ascii") if host else ""
        except UnicodeError:
            ascii_host = host
        netloc = quote(ascii_host, safe="-._~!$&'()*+,;=")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"

    def enc(text: str) -> str:  # keep valid %XX escapes, encode everything else
        return quote(_LONE_PERCENT.sub("%25", text), safe="/:@!$&'()*+,;=-._~%?")

    out = f"{parts.scheme or 'http'}://{netloc}{enc(parts.path)}"
    if parts.query:
        out += "?" + enc(parts.query)
    if parts.fragment:
        out += "#" + enc(parts.fragment)
    return out


def _port(url: str) -> int:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return port if port and 1 <= port <= 65535 else _PORTS.get(parts.scheme, 80)


def domain(url: str) -> str | None:
    """The URL's host name when the schema's `domain` pattern accepts it (never an IP)."""
    host = (urlsplit(_CONTROL.sub("", url)).hostname or "").lower().rstrip(".")
    if not host or _is_ip(host):
        return None
    return host if _DOMAIN.fullmatch(host) else None


def confidence(match: dict[str, Any]) -> float | None:
    """How sure the match is: 1.0 for an exact hash, the share of agreeing bits for a
    perceptual one, None when no match distance is known."""
    name = str(match.get("algorithm") or "").lower()
    if items.is_video(name):
        percent = items.frames_matched_percent(match.get("distance"))
        return None if percent is None else round(percent / 100, 3)
    algo = ALGORITHMS.get(name)
    if algo is None:
        return None
    if not algo.perceptual:
        return 1.0
    try:
        distance = int(match.get("distance"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return round(min(1.0, max(0.0, 1 - distance / algo.bits)), 3)


def _stamp(value: Any) -> str:
    return clock.iso(clock.parse(str(value)))  # type: ignore[return-value]


def _hashes(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, value in (values or {}).items():
        if str(name).lower() in VIDEO_ALGORITHMS:
            continue  # a signature of frame hashes, never sent (items.clean_hashes)
        text = str(value).lower()
        if re.fullmatch(r"[0-9a-f]{1,512}", text) and len(text) == _HEX.get(name, len(text)):
            out[str(name)] = text
    return out


def hosting_provider(item: dict[str, Any]) -> str | None:
    """`hosting_provider` said honestly: the hoster; for a URL behind a CDN sent to the CDN,
    the CDN named as what it is (an edge, not the hoster), with the origin hoster if known."""
    edge = _text(item.get("edge") or "")
    if edge and item.get("route") == "cdn":
        origin = _text(item.get("origin_hoster") or "") or "unknown"
        return f"{edge} (CDN/reverse proxy edge, not the origin hoster; origin: {origin})"[:200]
    return _text(item["hoster"])[:200] if item.get("hoster") else None


def _via_cdn(item: dict[str, Any]) -> str:
    """The description's CDN sentence: ask the CDN to forward, tell the origin who fronts it."""
    edge = _text(item.get("edge") or "")
    if not edge:
        return ""
    origin = _text(item.get("origin_hoster") or "")
    if item.get("route") == "cdn":
        known = (
            f" ({origin}, also notified directly)"
            if origin
            else " (unknown to us; please tell us who it is)"
        )
        return (
            f" The URL is served through the CDN/reverse proxy {edge}, not by the hoster "
            f"of the material: please forward this report to the origin hoster{known}."
        )
    return (
        f" The URL is served through the CDN/reverse proxy {edge}; your network is the "
        f"origin behind it ({edge} was notified too)."
    )


def build(
    item: dict[str, Any], *, idempotency_key: str, config: AlertsConfig, country: str | None = None
) -> dict[str, Any]:
    """The XARF v4 content/csam report of one alert item (valid under the schemas)."""
    url = uri(str(item["url"]))
    host = (urlsplit(url).hostname or "").lower()
    match = item.get("match") or {}
    algorithm = str(match.get("algorithm") or "").lower()
    video = items.is_video(algorithm)
    perceptual = video or bool(algorithm in ALGORITHMS and ALGORITHMS[algorithm].perceptual)
    how = (
        items.video_detection(match.get("distance"))
        if video
        else f"perceptual hash match ({algorithm}, Hamming distance {match.get('distance')})"
        if perceptual
        else f"exact hash match ({algorithm})"
        if algorithm
        else "hash match against the reported material"
    )
    what = (
        "found again at the reported URL after its removal"
        if item.get("kind") == "reappearance"
        else "re-uploaded at a new URL"
    )
    first_seen = _stamp(item["first_seen_at"])
    report: dict[str, Any] = {
        "xarf_version": VERSION,
        "report_id": report_id(idempotency_key),
        "timestamp": first_seen,
        "reporter": contact(config),
        "sender": contact(config),
        "source_identifier": _text(item.get("ip") or host or url)[:255],
        "source_port": _port(url),
        "category": "content",
        "type": "csam",
        "url": url,
        "classification": CLASSIFICATION,
        "detection_method": "hash_match",
        "media_type": "video" if video else "image",
        "hash_values": _hashes(item.get("hashes") or {}),
        "content_removed": False,
        "evidence_source": "crawler",
        "verified_at": _stamp(item.get("last_seen_at") or first_seen),
        "verification_method": "automated_crawler",
        "description": _text(
            f"Child sexual abuse material {what}, case "
            f"{item.get('reference')}, detected by {how}. Please remove it "
            f"and prevent its re-upload.{_via_cdn(item)}"
        )[:1000],
    }
    name = domain(url)
    if name:
        report["domain"] = name
    sure = confidence(match)
    if sure is not None:
        report["confidence"] = sure
    asn = item.get("asn")
    if isinstance(asn, int) and 1 <= asn <= 4294967295:
        report["asn"] = asn
    provider = hosting_provider(item)
    if provider:
        report["hosting_provider"] = provider
    if country and re.fullmatch(r"[A-Za-z]{2}", country):
        report["country_code"] = country.upper()
    tags = [
        tag("detection", "perceptual-hash" if perceptual else "hash"),
        tag("algorithm", algorithm) if algorithm else None,
        tag("alert", str(item.get("kind") or "reupload")),
        tag("case", str(item["reference"])) if item.get("reference") else None,
        tag("cdn", str(item["edge"])) if item.get("edge") else None,
    ]
    report["tags"] = [t for t in tags if t]
    return report


def missing(report: dict[str, Any]) -> list[str]:
    """Required fields absent or empty (empty list: complete)."""
    out = [name for name in REQUIRED if report.get(name) in (None, "", {})]
    for who in ("reporter", "sender"):
        out += [
            f"{who}.{k}" for k in ("org", "contact", "domain") if not (report.get(who) or {}).get(k)
        ]
    return out
