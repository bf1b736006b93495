"""Reading only the first bytes of a video: a video is judged from a prefix, never 500 MB a check.

A request that may fetch a video carries its prefix budget in meta (`PREFIX`, bytes; the
`[crawl] video_prefix_bytes` setting). Two things then bound what it costs:
- it may ask for the prefix alone (`prefix_headers`: `Range: bytes=0-N`, sent when the
  request is known to be for a video: the report's baseline is a video, or a page linked it
  as one); a server that honours it answers 206 with the prefix;
- a server that ignores the range (or a first check that did not know it would get a video)
  answers 200 with the whole file: the body is cut once it holds the prefix and its first bytes
  are a video container (`on_bytes`, a bytes_received handler raising StopDownload(fail=False):
  the response arrives with the bytes so far, flagged "download_stopped").
A body that is no video is never cut here: it keeps the crawl's max_download_bytes. Only where
the response declares a video (Content-Type video/*, or the request is known to be for one)
and has no Content-Encoding does the handler (spiders.handler) lift max_download_bytes for
it, since the prefix cut bounds it instead; were its bytes no video after all, they are cut at
max_download_bytes as before (`StopDownload(fail=True)`, a `too_large` failure).

`prefix_of(response)` says whether a response's body is the whole file or a prefix, and the
file's size when the server said it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scrapy import signals
from scrapy.exceptions import StopDownload

from hashes.video_model import sniff_container

PREFIX = "ntd_video_prefix"  # meta: the prefix budget in bytes (0/absent: no video handling)
KNOWN = "ntd_video_known"  # meta: the request is for a video (send the range, lift maxsize)
MAXSIZE = "ntd_maxsize"  # meta: max_download_bytes, kept when the handler lifted it
_SEEN = "ntd_video_seen"  # meta: bytes received so far
_HEAD = "ntd_video_head"  # meta: the first bytes (to recognise a container)
_HEAD_BYTES = 64
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)


def prefix_headers(prefix: int) -> dict[str, str]:
    """The Range header asking for the first `prefix` bytes."""
    return {"Range": f"bytes=0-{max(0, prefix - 1)}"}


def video_meta(prefix: int, *, known: bool) -> dict[str, Any]:
    """Meta for a request whose answer may be a video to be read as a prefix."""
    return {PREFIX: int(prefix), KNOWN: bool(known)}


def declares_video(headers: Any, request: Any) -> bool:
    """Whether the handler may lift max_download_bytes for this response (module docstring)."""
    if not request.meta.get(PREFIX) or headers.get("Content-Encoding"):
        return False
    if request.meta.get(KNOWN):
        return True
    kind = (headers.get("Content-Type") or b"").decode("latin-1").strip().lower()
    return kind.startswith("video/") or kind in ("application/mp4", "application/x-matroska")


def start_response(headers: Any, request: Any, default_maxsize: int) -> None:
    """Before a response's body is read (spiders.handler): its own byte count and first bytes
    (a redirect or a retry copies the meta of the request before it), the crawl's size bound
    back in place if an earlier response of this request had it lifted, then lifted again
    only where this response declares a video (`declares_video`)."""
    meta = request.meta
    meta.pop(_SEEN, None)
    meta.pop(_HEAD, None)
    if MAXSIZE in meta:
        meta["download_maxsize"] = meta.pop(MAXSIZE)
    if declares_video(headers, request):
        meta[MAXSIZE] = meta.get("download_maxsize", default_maxsize)
        meta["download_maxsize"] = 0


def on_bytes(data: bytes, request: Any, **_: Any) -> None:
    """bytes_received handler: cut a video's body at its prefix; cut a body that is no video at
    max_download_bytes when the handler lifted that limit for it."""
    meta = request.meta
    prefix = meta.get(PREFIX)
    if not prefix:
        return
    seen = meta.get(_SEEN, 0) + len(data)
    meta[_SEEN] = seen
    head = meta.get(_HEAD, b"")
    if len(head) < _HEAD_BYTES:
        head = meta[_HEAD] = head + bytes(data[: _HEAD_BYTES - len(head)])
    if seen < prefix and not meta.get(MAXSIZE):
        return
    if sniff_container(head) is not None:
        if seen >= prefix:
            raise StopDownload(fail=False)
        return
    lifted = meta.get(MAXSIZE)
    if lifted and seen > lifted:
        raise StopDownload(fail=True)  # no video after all: the crawl's own size bound


def connect(crawler: Any) -> None:
    crawler.signals.connect(on_bytes, signal=signals.bytes_received)


@dataclass(frozen=True)
class Prefix:
    partial: bool  # the body is the start of a longer file
    total: int | None  # the file's size when the server said it
    from_start: bool = True  # False: a 206 that is not the file's start (not what was asked)


def prefix_of(response: Any) -> Prefix:
    """Whether `response.body` is a whole file or its prefix (a 206 from 0, a cut download)."""
    size = len(response.body)
    total: int | None = None
    if response.status == 206:
        found = _CONTENT_RANGE.search(
            (response.headers.get("Content-Range") or b"").decode("latin-1")
        )
        if found and found.group(3) != "*":
            total = int(found.group(3))
        if found is None or int(found.group(1)) != 0:
            return Prefix(True, total, from_start=False)
        return Prefix(total is None or size < total, total)
    length = response.headers.get("Content-Length")
    if length is not None and length.strip().isdigit():
        total = int(length)
    stopped = "download_stopped" in (response.flags or ())
    return Prefix(stopped or (total is not None and size < total), total)
