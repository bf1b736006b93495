"""One overall deadline per check: its retries, redirects and a page's images all share it.

A check's request carries its budget in meta (`SECONDS`, the Scrapy setting
NTD_CHECK_DEADLINE, default 60 s). The clock starts when that request is first handed to the
network (`clamp`, called by spiders.handler before every download), not when it was queued:
waiting for a hoster's politeness slot is ours, not the hoster's doing. Retries and redirects
copy the request's meta, so they keep the deadline (`AT`, a time.monotonic() value); the
recheck spider passes `AT` on to the image and placeholder requests the check makes. Before
each download `download_timeout` becomes the smaller of its own value and the time left, so a
slow-drip body is cut at the deadline however many attempts it gets; past the deadline a
request fails at once with a timeout and is not retried. A check cut off is `unreachable`
with reason `timeout` (monitor.core.classify), never a removal.
"""

from __future__ import annotations

import time
from typing import Any

from scrapy import Request
from scrapy.exceptions import DownloadTimeoutError

SETTING = "NTD_CHECK_DEADLINE"
DEFAULT_SECONDS = 60.0
SECONDS = "ntd_check_seconds"  # meta: the check's budget in seconds (its first request)
AT = "ntd_deadline"  # meta: the check's deadline on the time.monotonic() clock


def budget(settings: Any) -> float:
    """The per-check budget in seconds from the crawl's settings (NTD_CHECK_DEADLINE)."""
    return max(0.0, settings.getfloat(SETTING, DEFAULT_SECONDS))


def clamp(request: Request) -> None:
    """Start the check's clock on its first send; bound this attempt's download_timeout by
    the time left; raise DownloadTimeoutError (not retried) once the deadline has passed.
    Requests that belong to no check (watch scans) are left alone."""
    meta = request.meta
    at = meta.get(AT)
    if at is None:
        seconds = meta.get(SECONDS)
        if seconds is None:
            return
        at = meta[AT] = time.monotonic() + float(seconds)
    left = at - time.monotonic()
    if left <= 0:
        meta["dont_retry"] = True
        raise DownloadTimeoutError("the check's deadline passed before this request was sent")
    meta["download_timeout"] = min(float(meta.get("download_timeout") or left), left)


def time_left(meta: dict[str, Any], seconds: float) -> float:
    """Seconds the check of a response with `meta` may still take (its whole budget when its
    clock never started, as for a response that did not come through spiders.handler)."""
    at = meta.get(AT)
    return seconds if at is None else max(0.0, at - time.monotonic())
