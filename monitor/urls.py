"""Reported URLs: validation, the form we fetch, and the key we de-duplicate on.

`clean(url)` trims, refuses anything but http(s) with a host, encodes IDN hosts to punycode and
percent-encodes unsafe characters (w3lib, as Scrapy does). `key(url)` is the de-duplication key:
w3lib's canonical form (lowercase scheme and host, sorted query, no fragment) without a default
port, so two spellings of one URL are one report.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url, safe_url_string

MAX_URL_LENGTH = 8192
_DEFAULT_PORTS = {"http": 80, "https": 443}


class UrlError(ValueError):
    """A URL we cannot accept as a reported URL."""


def clean(url: str) -> str:
    raw = (url or "").strip()
    if not raw:
        raise UrlError("empty URL")
    if len(raw) > MAX_URL_LENGTH:
        raise UrlError(f"URL longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 32 for c in raw):
        raise UrlError("URL contains control characters")
    try:
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise UrlError(f"only http and https URLs are checked, not {parts.scheme or 'none'!r}")
        if not parts.hostname:
            raise UrlError("URL has no host")
        _ = parts.port  # raises ValueError for a bad port
        safe = safe_url_string(raw)
    except UrlError:
        raise
    except (ValueError, UnicodeError) as exc:
        raise UrlError(f"malformed URL: {exc}") from None
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
