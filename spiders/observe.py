"""Turning what Scrapy saw into the facts classification needs (no I/O, no storage).

Failure kinds from exceptions, the redirect chain from request meta, whether a redirect ended
on a front page or a "removed" page, whether a body is an image by its own bytes (never by the
header: hostile hosters serve images as text/html) or an HTML page, and image links on an HTML
page (bounded).
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
    IgnoreRequest,
    ResponseDataLossError,
    StopDownload,
)
from scrapy.http import HtmlResponse, Response, TextResponse

from spiders.resolver import NameLookupFailed, NameNotFound, TargetRefused

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".flv", ".wmv", ".ogv", ".ts")
REMOVED_WORDS = re.compile(
    rb"(?i)(removed|deleted|no longer available|not found|taken down|"
    rb"does not exist|unavailable)"
)


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
    if isinstance(exc, StopDownload):
        return "too_large"  # spiders.video_prefix: no video after all, past max_download_bytes
    if isinstance(exc, DownloadTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, DownloadCancelledError | IgnoreRequest):
        # (Scrapy's HttpCompressionMiddleware ignores a response whose decompressed body
        # exceeds DOWNLOAD_MAXSIZE: a gzip bomb is too large, not some other failure)
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
    return tuple(
        (u, int(r) if isinstance(r, int) else 0) for u, r in zip(urls, reasons, strict=False)
    )


def is_away(requested: str, final: str, body: bytes, is_html: bool) -> bool:
    """A redirect that ended on the site's front page or on a page saying it was removed."""
    if final == requested:
        return False
    path = urlsplit(final).path
    if path in ("", "/") or re.search(r"(?i)(removed|deleted|not-?found|gone|index\.html?$)", path):
        return True
    return is_html and bool(REMOVED_WORDS.search(body[:20000]))


# The signatures of the formats hashes.compute decodes (JPEG, PNG, GIF, WebP, BMP).
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})  # "BM" alone is too weak


def looks_image(body: bytes) -> bool:
    """Whether `body` starts like an image that hashes.compute decodes, whatever its header."""
    return (
        body.startswith(_IMAGE_MAGIC)
        or (body[:4] == b"RIFF" and body[8:12] == b"WEBP")
        or (
            body[:2] == b"BM"
            and len(body) > 18
            and body[14] in _BMP_HEADER_SIZES
            and body[15:18] == b"\0\0\0"
        )
    )


def looks_html(content_type: str | None, body: bytes) -> bool:
    """Whether to read `body` as an HTML page: never when its bytes are an image, else when
    its header says HTML or it starts like HTML."""
    if looks_image(body):
        return False
    if content_type and "html" in content_type.lower():
        return True
    return body[:200].lstrip().lower().startswith((b"<!doctype html", b"<html"))


# One XPath pass over the parsed page (attribute values in page order, each knowing its element
# and attribute), grouped as listed here; five CSS queries through parsel made a Selector per
# value (a 10-image album page: 295 -> 231 us, most of the rest is urljoin).
_IMAGE_ATTRS = (
    "//img/@src | //img/@data-src | //meta[@property='og:image']/@content"
    " | //a/@href | //img/@srcset | //source/@srcset"
)
_GROUPS = {
    ("img", "src"): 0,
    ("img", "data-src"): 1,
    ("meta", "content"): 2,
    ("a", "href"): 3,
    ("img", "srcset"): 4,
    ("source", "srcset"): 4,
}


def image_links(response: Response, limit: int = 20) -> list[str]:
    """Image URLs on an HTML page: img src, then img data-src, og:image, links to image files,
    img/source srcset (each kind in page order), resolved against the page URL, http(s) only,
    each once, at most `limit`."""
    if not isinstance(response, TextResponse):  # HTML served under a non-text type
        response = HtmlResponse(response.url, body=response.body)
    groups: list[list[str]] = [[], [], [], [], []]
    for value in response.selector.root.xpath(_IMAGE_ATTRS):
        group = _GROUPS.get((value.getparent().tag, value.attrname))
        if group is None:  # (an element name in another case or namespace: not ours)
            continue
        if group == 3 and not urlsplit(value).path.lower().endswith(IMAGE_EXTENSIONS):
            continue
        if group == 4:
            groups[4].extend(
                part.strip().split(" ")[0] for part in value.split(",") if part.strip()
            )
        else:
            groups[group].append(str(value))
    out: list[str] = []
    seen: set[str] = set()
    for values in groups:
        for value in values:
            url = urljoin(response.url, value.strip())
            if url.startswith(("http://", "https://")) and url not in seen:
                seen.add(url)
                out.append(url)
                if len(out) >= limit:
                    return out
    return out


# Video links: <video src>, <video><source src>, og:video (and its url/secure_url forms), then
# links to video files; one XPath pass as for images.
_VIDEO_ATTRS = (
    "//video/@src | //video/source/@src | //meta[starts-with(@property, 'og:video')]/@content"
    " | //a/@href"
)


def video_links(response: Response, limit: int = 10) -> list[str]:
    """Video URLs on an HTML page: video src and its source elements and og:video in page
    order, then links to video files; resolved against the page URL, http(s) only, each once,
    at most `limit`."""
    if not isinstance(response, TextResponse):
        response = HtmlResponse(response.url, body=response.body)
    embedded: list[str] = []
    linked: list[str] = []
    for value in response.selector.root.xpath(_VIDEO_ATTRS):
        owner = value.getparent().tag
        if owner == "a":
            if urlsplit(value).path.lower().endswith(VIDEO_EXTENSIONS):
                linked.append(str(value))
        elif owner == "meta":
            if str(value.getparent().get("property", "")).lower() in _OG_VIDEO:
                embedded.append(str(value))
        else:
            embedded.append(str(value))
    out: list[str] = []
    for value in embedded + linked:
        url = urljoin(response.url, value.strip())
        if url.startswith(("http://", "https://")) and url not in out:
            out.append(url)
            if len(out) >= limit:
                break
    return out


_OG_VIDEO = frozenset({"og:video", "og:video:url", "og:video:secure_url"})
