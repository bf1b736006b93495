"""Turning what Scrapy saw into the facts classification needs (no I/O, no storage).

Failure kinds from exceptions, the redirect chain from request meta, whether a redirect ended
on a front page or a "removed" page, and image links on an HTML page (bounded).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.http import Response

from spiders.resolver import NameLookupFailed, NameNotFound, TargetRefused

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")
REMOVED_WORDS = re.compile(rb"(?i)(removed|deleted|no longer available|not found|taken down|"
                           rb"does not exist|unavailable)")


def error_kind(exc: BaseException) -> str:
    """Map a download failure to a classify error kind."""
    text = str(exc).lower()
    if isinstance(exc, NameNotFound):
        return "dns_nxdomain"
    if isinstance(exc, NameLookupFailed):
        return "dns_error"
    if isinstance(exc, TargetRefused):
        return "ssrf_refused"
    if isinstance(exc, CannotResolveHostError):
        if "nxdomain" in text or "name or service not known" in text:
            return "dns_nxdomain"
        if "refused non-public" in text:
            return "ssrf_refused"
        return "dns_error"
    if isinstance(exc, DownloadTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, DownloadCancelledError):
        return "too_large" if "maxsize" in text or "size" in text else "other"
    if isinstance(exc, DownloadConnectionRefusedError | ConnectionRefusedError):
        return "refused"
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "tls"
    if isinstance(exc, ResponseDataLossError | DownloadFailedError | ConnectionError):
        return "reset"
    return "other"


def redirect_chain(response: Response) -> tuple[tuple[str, int], ...]:
    urls = response.meta.get("redirect_urls") or []
    reasons = response.meta.get("redirect_reasons") or []
    return tuple((u, int(r) if isinstance(r, int) else 0) for u, r in zip(urls, reasons,
                                                                            strict=False))


def is_away(requested: str, final: str, body: bytes, is_html: bool) -> bool:
    """A redirect that ended on the site's front page or on a page saying it was removed."""
    if final == requested:
        return False
    path = urlsplit(final).path
    if path in ("", "/") or re.search(r"(?i)(removed|deleted|not-?found|gone|index\.html?$)",
                                      path):
        return True
    return is_html and bool(REMOVED_WORDS.search(body[:20000]))


def looks_html(content_type: str | None, body: bytes) -> bool:
    if content_type and "html" in content_type.lower():
        return True
    return body[:200].lstrip().lower().startswith((b"<!doctype html", b"<html"))


def image_links(response: Response, limit: int = 20) -> list[str]:
    """Image URLs on an HTML page: img src/srcset, og:image, links to image files."""
    found: list[str] = []
    selectors = (
        "img::attr(src)", "img::attr(data-src)", "meta[property='og:image']::attr(content)",
        "a::attr(href)",
    )
    for css in selectors:
        for value in response.css(css).getall():
            if css.startswith("a::") and not urlsplit(value).path.lower().endswith(
                    IMAGE_EXTENSIONS):
                continue
            found.append(value)
    for srcset in response.css("img::attr(srcset), source::attr(srcset)").getall():
        found.extend(part.strip().split(" ")[0] for part in srcset.split(",") if part.strip())
    out: list[str] = []
    for value in found:
        url = urljoin(response.url, value.strip())
        if url.startswith(("http://", "https://")) and url not in out:
            out.append(url)
        if len(out) >= limit:
            break
    return out
