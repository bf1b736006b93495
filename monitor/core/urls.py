"""Reported URLs: validation, the form we fetch, and the key we de-duplicate on.

`clean(url)` trims, refuses anything but http(s) with a host, encodes IDN hosts to punycode and
percent-encodes unsafe characters (w3lib, as Scrapy does). It also refuses what must never be
stored or sent on: credentials in the URL (`user:pw@`, which `status` and alerts would show),
control, separator and bidi characters, port 0, and hosts that are not a domain name (empty or
over-long labels, over 253 characters, characters outside letters, digits, `-` and `_`) or an IP
literal. `key(url)` is the de-duplication key: w3lib's canonical form (lowercase scheme and
host, sorted query, no fragment) without a default port, so two spellings of one URL are one
report.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from w3lib.url import canonicalize_url, safe_url_string

from monitor.core.text import text_problem

MAX_URL_LENGTH = 8192
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"[a-z0-9_-]+")


class UrlError(ValueError):
    """A URL we cannot accept as a reported URL."""


def host_problem(hostname: str) -> str | None:
    """Why `hostname` (as urlsplit gives it: lowercase, no brackets) is not a host, or None."""
    if not hostname:
        return "URL has no host"
    if ":" in hostname:
        if "%" in hostname:
            return "IPv6 host with a zone id"
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            return f"not an IPv6 address: {hostname[:80]!r}"
        return None
    name = hostname[:-1] if hostname.endswith(".") else hostname
    if len(name) > MAX_HOST_LENGTH:
        return f"host longer than {MAX_HOST_LENGTH} characters"
    for label in name.split("."):
        if not label:
            return f"host has an empty label: {hostname[:80]!r}"
        if len(label) > MAX_LABEL_LENGTH:
            return f"host has a label longer than {MAX_LABEL_LENGTH} characters"
        if not _LABEL.fullmatch(label):
            return f"host has invalid characters: {hostname[:80]!r}"
    return None


def check_parts(parts: SplitResult, *, what: str = "URL") -> None:
    """Scheme, credentials, port and host of a split URL, or UrlError (`what` names the URL)."""
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UrlError(f"only http and https URLs are accepted, not {parts.scheme or 'none'!r}")
    if "@" in parts.netloc:
        raise UrlError(f"{what} contains credentials (user:password@); remove them")
    if not parts.netloc.isascii():  # urlsplit lowercases "\u212a" (Kelvin) to "k": look first
        raise UrlError(f"host has invalid characters: {parts.netloc[:80]!r}")
    problem = host_problem(parts.hostname or "")
    if problem:
        raise UrlError(problem)
    if parts.port == 0:  # a bad port raises ValueError here
        raise UrlError("port 0 is not a port")


def clean(url: str) -> str:
    raw = (url or "").strip()
    if not raw:
        raise UrlError("empty URL")
    if len(raw) > MAX_URL_LENGTH:
        raise UrlError(f"URL longer than {MAX_URL_LENGTH} characters")
    problem = text_problem(raw)
    if problem:
        raise UrlError(f"URL {problem}")
    try:
        scheme = urlsplit(raw).scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise UrlError(f"only http and https URLs are checked, not {scheme or 'none'!r}")
        if "@" in urlsplit(raw).netloc:
            raise UrlError("URL contains credentials (user:password@); remove them")
        safe = safe_url_string(raw)
        check_parts(urlsplit(safe))
    except UrlError:
        raise
    except (ValueError, UnicodeError) as exc:
        raise UrlError(f"malformed URL: {exc}") from None
    if len(safe) > MAX_URL_LENGTH:
        raise UrlError(f"URL longer than {MAX_URL_LENGTH} characters once encoded")
    return safe


def key(url: str) -> str:
    """The normalised de-duplication key of an already `clean()`ed URL."""
    canonical = canonicalize_url(url)
    parts = urlsplit(canonical)
    netloc = parts.netloc
    if parts.port is not None and parts.port == _DEFAULT_PORTS.get(parts.scheme):
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
