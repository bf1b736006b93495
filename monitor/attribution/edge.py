"""Which CDN or reverse proxy served a check (its "edge"), pure: from headers or from the ASN.

A check answered by a CDN edge says nothing about who stores the material: the edge forwards to
an origin server the CDN does not disclose. `edge_from_headers` names the CDN from the
response's own headers (only headers a CDN sets itself; a bare `Via: 1.1 varnish` or
`X-Cache: HIT` is any cache, even the hoster's own, so it names nobody). `edge_from_asn` names it
from the CDN registry (monitor.attribution.cdn): a CDN prefix, else a CDN-only ASN. The names
are the registry's, so that a header-detected edge finds the CDN's abuse contact.

No I/O here: header values are text or bytes as the caller has them; nothing of the body.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Protocol

from monitor.attribution.records import PrefixTable
from monitor.core.cdn_names import AKAMAI, BUNNY, CLOUDFLARE, CLOUDFRONT, FASTLY, IMPERVA, SUCURI

# Fastly's X-Served-By names its cache nodes: "cache-ams21024-AMS" (one per hop, comma-joined)
_FASTLY_NODE = re.compile(r"(?:^|[\s,])cache-[a-z]{3}\d+-[A-Z]{3}(?:$|[\s,])", re.ASCII)
_SERVER = (
    (re.compile(r"^cloudflare\b", re.I), CLOUDFLARE),
    (re.compile(r"^akamai(?:ghost|netstorage)\b", re.I), AKAMAI),
    (re.compile(r"^cloudfront\b", re.I), CLOUDFRONT),
    (re.compile(r"^bunnycdn\b", re.I), BUNNY),
    (re.compile(r"^sucuri/cloudproxy\b", re.I), SUCURI),
)
_MENTIONS = (
    (re.compile(r"\bcloudfront\b", re.I), CLOUDFRONT),
    (re.compile(r"\bakamai", re.I), AKAMAI),
    (re.compile(r"\bincapsula\b", re.I), IMPERVA),
)
MAX_VALUE = 512  # header values longer than this are read only this far

Headers = Mapping[str, object] | Mapping[bytes, object] | Iterable[tuple[object, object]]


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:MAX_VALUE]).decode("latin-1")
    return str(value)[:MAX_VALUE]


def normalise(headers: Headers) -> dict[str, str]:
    """Lower-case names to text values; repeated headers joined with ", " (bytes as latin-1)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in pairs:
        key = _text(name).strip().lower()
        text = _text(value).strip()
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


def edge_from_headers(headers: Headers) -> str | None:
    """The CDN that answered, by the headers it sets (None: no CDN's own header)."""
    h = normalise(headers)
    if "cf-ray" in h or "cf-cache-status" in h:
        return CLOUDFLARE
    if "x-amz-cf-id" in h or "x-amz-cf-pop" in h:
        return CLOUDFRONT
    if any(k.startswith("x-akamai-") or k.startswith("akamai-") for k in h):
        return AKAMAI
    if any(k.startswith("x-fastly-") or k.startswith("fastly-") for k in h) or _FASTLY_NODE.search(
        h.get("x-served-by", "")
    ):
        return FASTLY
    if "x-iinfo" in h:
        return IMPERVA
    if "x-sucuri-id" in h:
        return SUCURI
    if "cdn-pullzone" in h:
        return BUNNY
    server = h.get("server", "")
    for pattern, name in _SERVER:
        if pattern.search(server):
            return name
    for key in ("via", "x-cache", "x-cdn"):  # only a named CDN: a bare cache names nobody
        for pattern, name in _MENTIONS:
            if pattern.search(h.get(key, "")):
                return name
    return None


class CdnNetworks(Protocol):
    """What `edge_from_asn` needs of the CDN registry."""

    @property
    def by_prefix(self) -> PrefixTable[str]: ...

    @property
    def by_asn(self) -> Mapping[int, str]: ...


@lru_cache(maxsize=1 << 16)
def _address(ip: str) -> tuple[int, int] | None:
    """(IP version, integer) of `ip`, parsed once per address (a crawl meets the same server
    addresses over and over: this keeps the CDN lookup within the noise of attribution)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return address.version, int(address)


def edge_from_asn(asn: int | None, ip: str | None, registry: CdnNetworks) -> str | None:
    """The CDN whose prefix contains `ip` (most specific wins), else whose ASN is `asn`."""
    if ip:
        parsed = _address(ip)
        found = registry.by_prefix.match_int(*parsed) if parsed is not None else None
        if found is not None:
            return found[1]
    if asn is not None:
        return registry.by_asn.get(asn)
    return None
