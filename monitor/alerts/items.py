"""What an alert says, as plain data: the item of one re-upload or reappearance, and its keys.

An item is the JSON object a hoster receives (webhook `items[]`, one e-mail paragraph, one XARF
report): URL, page, first-seen time, IP, ASN, case reference, match and hash values. Nothing
derived from content beyond hash values (fixed-length hex, checked by `hashes.formats`).

Keys: `idempotency_key` is unique per alert row and sent as `Idempotency-Key`; `dedupe_ref`
names "the same URL (and reappearance episode)" for duplicate suppression within the window.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from hashes.formats import normalize
from monitor.core.config import AlertsConfig

SCHEMA = "ntd-monitor/alert-v1"
MIN_DEDUPE_WINDOW = timedelta(hours=24)
ASK = (
    "Please remove the material at each URL and prevent its re-upload (block the hash "
    "values given). Reply to {reply} quoting the case reference when done."
)


def dedupe_window(config: AlertsConfig) -> timedelta:
    """No second alert for the same URL (same reappearance episode) within this window."""
    return max(config.batch_window, MIN_DEDUPE_WINDOW)


def clean_hashes(hashes: dict[str, str] | None) -> dict[str, str]:
    """Normalised `{algorithm: hex}`; raises HashFormatError on anything else (never bytes)."""
    out: dict[str, str] = {}
    for algorithm, value in (hashes or {}).items():
        name, text = normalize(algorithm, value)
        out[name] = text
    return dict(sorted(out.items()))


def match_ref(of_report_id: int | None, of_known_hash_id: int | None) -> str:
    if of_report_id is not None:
        return f"report:{of_report_id}"
    return f"hash:{of_known_hash_id}"


def idempotency_key(channel: str, kind: str, url_key: str, ref: str) -> str:
    text = "\x1f".join((SCHEMA, channel, kind, url_key, ref))
    return hashlib.sha256(text.encode()).hexdigest()


def dedupe_ref(kind: str, url_key: str, episode: str = "") -> str:
    return hashlib.sha256("\x1f".join((kind, url_key, episode)).encode()).hexdigest()


def item(
    *,
    kind: str,
    url: str,
    page_url: str | None,
    first_seen_at: str,
    last_seen_at: str,
    ip: str | None,
    asn: int | None,
    hoster: str | None,
    reference: str | None,
    original_reference: str | None,
    match: dict[str, Any] | None,
    hashes: dict[str, str],
    edge: str | None = None,
    route: str | None = None,
    origin_hoster: str | None = None,
) -> dict[str, Any]:
    """The item object of the alert JSON schema (docs/alerts.md). A URL served through a CDN
    edge also carries `edge` (the CDN), `route` ("cdn": this alert goes to the CDN, asked to
    forward it; "origin": to the origin hoster behind it) and `origin_hoster` (name or null)."""
    out: dict[str, Any] = {
        "kind": kind,
        "url": url,
        "page_url": page_url,
        "first_seen_at": first_seen_at,
        "last_seen_at": last_seen_at,
        "ip": ip,
        "asn": asn,
        "hoster": hoster,
        "reference": reference,
        "original_reference": original_reference,
        "match": match,
        "hashes": dict(hashes),
    }
    if edge:
        out.update(edge=edge, route=route, origin_hoster=origin_hoster)
    return out


def ask(config: AlertsConfig) -> str:
    return ASK.format(reply=config.from_address)
