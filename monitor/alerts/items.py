"""What an alert says, as plain data: the item of one re-upload or reappearance, and its keys.

An item is the JSON object a hoster receives (webhook `items[]`, one e-mail paragraph, one XARF
report): URL, page, first-seen time, IP, ASN, case reference, match and hash values. Nothing
derived from content beyond hash values (fixed-length hex, checked by `hashes.formats`).

A video found by its vPDQ signature (`match_object` with algorithm `vpdq`) has `distance` = 100
minus the percentage of the seen video's sampled frames found in the reported video; its match
also says `media: "video"`, that percentage (`frames_matched_percent`) and a `detection` text.
A vPDQ signature itself (kilobytes of frame hashes) is never part of an alert: `clean_hashes`
keeps the fixed-width hashes only; the alert's hash values of a video are the digests of the
file at the URL, when the caller has them.

Keys: `idempotency_key` is unique per alert row and sent as `Idempotency-Key`; `dedupe_ref`
names "the same URL (and reappearance episode)" for duplicate suppression within the window.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from hashes.formats import VIDEO_ALGORITHMS, normalize
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


def clean_hashes(hashes: dict[str, str] | None, *, video: bool = False) -> dict[str, str]:
    """Normalised `{algorithm: hex}`; raises HashFormatError on anything else (never bytes).
    A video signature (`vpdq`) is left out unless `video` (a baseline, never an alert)."""
    out: dict[str, str] = {}
    for algorithm, value in (hashes or {}).items():
        if not video and str(algorithm).strip().lower() in VIDEO_ALGORITHMS:
            continue
        name, text = normalize(algorithm, value)
        out[name] = text
    return dict(sorted(out.items()))


def is_video(algorithm: object) -> bool:
    """Whether a match algorithm is a video signature's (vPDQ)."""
    return str(algorithm or "").strip().lower() in VIDEO_ALGORITHMS


def frames_matched_percent(distance: object) -> int | None:
    """A vPDQ match's share of the seen video's frames found in the reported video (0..100)
    from its distance (100 minus that share); None when the distance is no number."""
    try:
        value = int(distance)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return 100 - min(100, max(0, value))


def video_detection(distance: object) -> str:
    """How a video was matched, in words (e-mail text, XARF description, webhook item)."""
    percent = frames_matched_percent(distance)
    if percent is None:
        return "video hash match (vPDQ, Meta's open-source video hash)"
    return (
        f"video hash match (vPDQ, Meta's open-source video hash: {percent}% of the frames "
        "sampled from the video at this URL match frames of the reported video)"
    )


def match_object(algorithm: str, distance: int, of: dict[str, Any]) -> dict[str, Any]:
    """The item's `match`: algorithm, distance, what it matches (`of`); for a video (vPDQ) also
    `media`, `frames_matched_percent` and `detection` (docs/alerts.md)."""
    name = algorithm.strip().lower()
    out: dict[str, Any] = {"algorithm": name, "distance": int(distance), "of": of}
    if name in VIDEO_ALGORITHMS:
        out.update(
            media="video",
            frames_matched_percent=frames_matched_percent(distance),
            detection=video_detection(distance),
        )
    return out


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
