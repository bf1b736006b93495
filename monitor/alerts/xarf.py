"""XARF v4 reports (category `content`, type `csam`) for one alert item, as plain data.

Follows the XARF v4 JSON schemas (xarf-core.json and types/content-csam.json of the XARF
specification): required `xarf_version`, `report_id` (UUID v4), `timestamp`, `reporter`,
`sender` (each `org`, `contact`, `domain`), `source_identifier`, `category`, `type`, `url`
(content category), `classification` and `detection_method` (csam type). We add `hash_values`
(md5/sha1/sha256 plus our perceptual hashes such as `pdq`), `media_type`, `asn`,
`hosting_provider`, `domain`, `source_port`, `evidence_source`, `verified_at`,
`verification_method`, `tags` and a `description`. No `evidence` items: XARF evidence carries
content, and we never send content.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from hashes.formats import ALGORITHMS
from monitor.config import AlertsConfig

VERSION = "4.0.0"
CLASSIFICATION = "baseline"        # confirmed by a hotline analyst; legal sub-category unknown
REQUIRED = ("xarf_version", "report_id", "timestamp", "reporter", "sender", "source_identifier",
            "category", "type", "url", "classification", "detection_method")
_TAG = re.compile(r"[^a-z0-9_+.-]+")
_PORTS = {"http": 80, "https": 443}


def contact(config: AlertsConfig) -> dict[str, str]:
    """Reporter and sender: the hotline, named after its From address's domain."""
    domain = config.from_address.rpartition("@")[2] or "localhost"
    return {"org": domain, "contact": config.from_address, "domain": domain}


def report_id(idempotency_key: str) -> str:
    """A UUID v4 derived from the alert's idempotency key: the same alert, the same id."""
    return str(uuid.UUID(bytes=bytes.fromhex(idempotency_key)[:16], version=4))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _tag(namespace: str, value: str) -> str | None:
    text = _TAG.sub("-", value.lower()).strip("-.+_")
    return f"{namespace}:{text}" if text else None


def build(item: dict[str, Any], *, idempotency_key: str, config: AlertsConfig,
          country: str | None = None) -> dict[str, Any]:
    """The XARF v4 content/csam report of one alert item."""
    parts = urlsplit(item["url"])
    host = (parts.hostname or "").lower()
    match = item.get("match") or {}
    algorithm = match.get("algorithm")
    perceptual = bool(algorithm and ALGORITHMS[algorithm].perceptual)
    how = (f"perceptual hash match ({algorithm}, Hamming distance {match.get('distance')})"
           if perceptual else f"exact hash match ({algorithm})" if algorithm
           else "hash match against the reported material")
    what = ("found again at the reported URL after its removal"
            if item["kind"] == "reappearance" else "re-uploaded at a new URL")
    report: dict[str, Any] = {
        "xarf_version": VERSION,
        "report_id": report_id(idempotency_key),
        "timestamp": item["first_seen_at"],
        "reporter": contact(config),
        "sender": contact(config),
        "source_identifier": item.get("ip") or host,
        "source_port": parts.port or _PORTS.get(parts.scheme, 80),
        "category": "content",
        "type": "csam",
        "url": item["url"],
        "classification": CLASSIFICATION,
        "detection_method": "hash_match",
        "media_type": "image",
        "hash_values": dict(item.get("hashes") or {}),
        "evidence_source": "crawler",
        "verified_at": item.get("last_seen_at") or item["first_seen_at"],
        "verification_method": "automated_crawler",
        "description": (f"Child sexual abuse material {what}, case {item.get('reference')}, "
                        f"detected by {how}. Please remove it and prevent its re-upload.")[:900],
    }
    if host and not _is_ip(host):
        report["domain"] = host
    if item.get("asn"):
        report["asn"] = int(item["asn"])
    if item.get("hoster"):
        report["hosting_provider"] = item["hoster"]
    if country and re.fullmatch(r"[A-Z]{2}", country.upper()):
        report["country_code"] = country.upper()
    tags = [_tag("detection", "perceptual-hash" if perceptual else "hash"),
            _tag("algorithm", algorithm) if algorithm else None,
            _tag("alert", item["kind"]),
            _tag("case", item["reference"]) if item.get("reference") else None]
    report["tags"] = [t for t in tags if t]
    return report


def missing(report: dict[str, Any]) -> list[str]:
    """Required fields absent or empty (empty list: complete)."""
    out = [name for name in REQUIRED if report.get(name) in (None, "", {})]
    for who in ("reporter", "sender"):
        out += [f"{who}.{k}" for k in ("org", "contact", "domain")
                if not (report.get(who) or {}).get(k)]
    return out
