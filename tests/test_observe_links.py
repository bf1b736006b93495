"""spiders.observe: which image URLs a page yields (in order, bounded), whether a body is an
image or a page by its own bytes, and the failure kinds of hostile responses."""

from __future__ import annotations

import pytest
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response, TextResponse

from hashes import synthetic
from spiders.observe import error_kind, image_links, looks_html, looks_image

PAGE = b"""<!doctype html><html><head>
<meta property="og:image" content="/og.jpg">
<meta name="og:image" content="/not-a-property.jpg">
</head><body>
<a href="/big/1.JPG">full size</a>
<img src="a.png" srcset="a-2x.png 2x, a-3x.png 3x">
<picture><source srcset="/s.webp 1x, /s-2.webp 2x">
<img data-src="/lazy.gif" src=" b.jpg "></picture>
<a href="/page2.html">next page</a>
<a href="mailto:abuse@example.org">mail</a>
<img src="javascript:void(0)">
<img src="a.png">
<IMG SRC="https://cdn.example.net/c.jpeg">
<a href="/big/2.webp?size=full">2</a>
</body></html>"""


def test_every_kind_of_image_link_in_order_deduplicated():
    response = HtmlResponse("http://site.test/album/7/", body=PAGE)
    assert image_links(response, limit=50) == [
        "http://site.test/album/7/a.png",  # img src, in page order
        "http://site.test/album/7/b.jpg",  # (whitespace trimmed)
        "https://cdn.example.net/c.jpeg",
        "http://site.test/lazy.gif",  # then img data-src
        "http://site.test/og.jpg",  # og:image (the property, not a name)
        "http://site.test/big/1.JPG",  # links to image files
        "http://site.test/big/2.webp?size=full",
        "http://site.test/album/7/a-2x.png",  # srcset of img and source, page order
        "http://site.test/album/7/a-3x.png",
        "http://site.test/s.webp",
        "http://site.test/s-2.webp",
    ]


def test_bounded_by_limit():
    response = HtmlResponse("http://site.test/album/7/", body=PAGE)
    assert image_links(response, limit=2) == [
        "http://site.test/album/7/a.png",
        "http://site.test/album/7/b.jpg",
    ]


def test_a_page_without_images_and_a_text_response():
    assert image_links(HtmlResponse("http://site.test/", body=b"<p>no images</p>")) == []
    text = TextResponse(
        "http://site.test/x", body=b"<html><img src='/t.png'></html>", encoding="utf-8"
    )
    assert image_links(text) == ["http://site.test/t.png"]
    # HTML served under a non-text type (a plain Response): read as HTML all the same
    binary = Response("http://site.test/y", body=b"<html><img src='/u.png'></html>")
    assert image_links(binary) == ["http://site.test/u.png"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP"])
@pytest.mark.parametrize(
    "content_type",
    ["text/html; charset=utf-8", "text/plain", None, "application/octet-stream", "image/jpeg"],
)
def test_image_bytes_are_an_image_whatever_the_header(fmt, content_type):
    body = synthetic.encode(synthetic.image(2, (80, 60)), fmt)
    assert looks_image(body)
    assert not looks_html(content_type, body)


@pytest.mark.parametrize(
    "body",
    [b"<!doctype html><p>x", b"  <HTML><body>", b"BMW is a car", b"GIF", b"RIFF1234WAVE", b""],
)
def test_other_bodies_are_not_images(body):
    assert not looks_image(body)
    assert looks_html("text/html", body)


def test_a_gzip_bomb_is_too_large():
    # what Scrapy's HttpCompressionMiddleware raises when the decompressed body is too big
    exc = IgnoreRequest(
        "Ignored response <200 http://h.test/x> because its body (16 B "
        "compressed, 4194305 B decompressed so far) exceeded DOWNLOAD_MAXSIZE "
        "(4194304 B) during decompression."
    )
    assert error_kind(exc) == "too_large"
    assert error_kind(IgnoreRequest("offsite")) == "other"
