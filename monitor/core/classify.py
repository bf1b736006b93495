"""Classification: what one fetch of a reported URL says about the reported material (pure).

The spider describes what it saw in a `Fetch`; `classify()` turns that into a check outcome and
a reason string (DESIGN.md glossary). The guiding rule is honesty: `online` only when the reported
material's hash matches (or, without a baseline, the first decodable image: `first_check`), and
`removed` only on positive evidence that the URL no longer serves the material. Everything that
merely prevents us from looking is `unreachable` or `blocked`, never `removed`.

Rules, first match wins:

| # | what the spider saw                                      | outcome      | reason            |
|---|----------------------------------------------------------|--------------|-------------------|
| 0 | any status (404, 410, 451, 403, 5xx ... and 2xx), body   | online       | `hash_match`      |
|   | read whole, and it matches the baseline (exact digest or |              |                   |
|   | hash within threshold), whatever the status, content     |              |                   |
|   | type, redirect, gallery or placeholder flags say         |              |                   |
| 1 | redirected, ending on the site's front page or a page    | removed      | `redirect_away`   |
|   | that says removed (whatever the final status or error)   |              |                   |
| 2 | no response: NXDOMAIN                                    | dns_gone     | `nxdomain`        |
| 3 | no response: DNS SERVFAIL / DNS timeout                  | unreachable  | `dns_error`       |
| 4 | no response: timeout, refused, reset, TLS failure        | unreachable  | the error kind    |
| 5 | no response: SSRF guard refused the (resolved) address   | unreachable  | `ssrf_refused`    |
| 6 | no response: any other error                             | unreachable  | `other_error`     |
| 7 | HTTP 404, 410, 451 (a body that did not match: rule 0)   | removed      | `http_404` ...    |
| 8 | HTTP 401, 403, 429 (likewise)                            | blocked      | `http_403` ...    |
| 9 | HTTP 5xx, other 4xx (400, 408, ...), 1xx, 3xx left over  | unreachable  | `http_503` ...    |
|   | (a redirect chain longer than allowed), unknown codes    |              |                   |
| 10| 2xx but the body broke off (reset) or exceeded the size  | unreachable  | the error kind,   |
|   | limit, or the check's deadline passed before anything    |              | e.g. `too_large`, |
|   | decisive was seen (a page whose images were still coming)|              | `timeout`         |
| 11| 2xx image that equals the host's learned placeholder     | removed      | `placeholder`     |
| 12| 2xx gallery page: any image on it matches the baseline   | online       | `hash_match`      |
| 13| 2xx gallery page: images, none matches                   | removed      | `content_changed` |
| 14| 2xx gallery page: images, no baseline yet                | online       | `first_check`     |
| 15| 2xx gallery page without any decodable image             | removed      | `no_images`       |
| 16| 2xx image, hash matches the baseline                     | online       | `hash_match`      |
| 17| 2xx image, hash does not match                           | removed      | `content_changed` |
| 18| 2xx image, no baseline yet                               | online       | `first_check`     |
| 19| 2xx, image too large to decode (decompression bomb, more | unreachable  | `too_large`       |
|   | pixels than the limit declared, out of memory)           |              |                   |
| 20| 2xx, claimed to be an image (`image/*`, or an untelling  | removed      | `corrupt_image`   |
|   | type and a decode error) but did not decode              |              |                   |
| 21| 2xx, not an image (HTML, text, JSON ...) where an image  | removed      | `not_an_image`    |
|   | was, whatever the decode error                           |              |                   |
| 22| 2xx, decoding not attempted (`is_image` None) and a      | removed      | `not_an_image`    |
|   | non-image content type                                   |              |                   |
| 23| 2xx, decoding not attempted, no or an image content type | unreachable  | `not_hashed`      |
| 24| 2xx video (its bytes a video container; `video`), too    | unreachable  | `too_large`       |
|   | costly to decode (frames, pixels, duration, time budget) |              |                   |
| 25| 2xx video whose prefix held no decodable frame yet (its  | unreachable  | `video_truncated` |
|   | index after the media, beyond what a check reads)        |              |                   |
| 26| 2xx video that did not decode (read whole, or a prefix   | removed      | `corrupt_video`   |
|   | broken before its first frame)                           |              |                   |

Videos (rules 12-18 read "image" as "video" when `video` is set): the spider tests a video's
exact digest first when it read the whole file, then its vPDQ signature (hashes.video_compare:
`algorithm` "vpdq", `distance` = 100 - the percentage of the fetched video's frames found in
the reported one); a video is usually judged from its first bytes (spiders.video_prefix), and
a prefix that decodes is as good as the file for the frames it holds.

Choices worth knowing:
- A match is decisive (rule 0): the material is served, so no status, header, redirect or flag
  may turn it into a removal (nor into `blocked` or `unreachable`). The spider tries the exact
  digest on every complete body, whatever its status, and decodes any body whose bytes are an
  image, whatever its `Content-Type` (hostile hosters serve the material as `text/html`,
  `application/octet-stream`, `text/plain` or with no type at all, and with 404, 410, 451, 403
  or 503). A non-2xx body is only compared, never a page read for its images nor a baseline.
  The reason stays `hash_match` whatever the status: the check row keeps its `http_status`, so
  analysts find these as `outcome = 'online' AND http_status NOT BETWEEN 200 AND 299`, and every
  consumer of `hash_match` (alerts' detection method, reports) treats them alike. Only a body
  that does not match falls through to the status rules 7-9 (a 404 placeholder image: removed).
- Oversized bodies (rule 10, a gzip bomb included: its decompressed size counts) and
  decompression bombs (rule 19: `image_error` whose kind, the text before any ":", is in
  TOO_LARGE_IMAGE_ERRORS; hashes.compute names them so) cannot be hashed, so they are no
  evidence either way: `unreachable`. The reported material was confirmed by an analyst; it is
  not a 20 MB file nor a bomb, but we do not claim removal from a response we did not read.
- Corrupt image bytes served completely with a 2xx (rule 20) are not the material: `removed`,
  with its own reason `corrupt_image` so analysts can tell it from an HTML page. A body cut off
  in transit is an error (`reset`), not a corrupt image. One corrupt response never confirms a
  takedown alone: the confirmation rule needs repeated down checks.
- The placeholder test (rule 11) comes before a failed comparison and before `first_check`: an
  image the host serves for paths that never existed says nothing about the reported material,
  and it must never become a `first_check` baseline. A match (rule 0) still wins over it.
- Each check has one overall deadline (the spider's NTD_CHECK_DEADLINE, default 60 s): retries,
  redirects and a page's images all share it; what was not seen in time is `timeout` (rule 10),
  never a removal.
- A redirect to the front page (rule 1) is evidence about the reported URL itself, so it wins
  even when the front page then fails. It needs an actual redirect (or a final URL different from
  the requested one): a reported URL that *is* a site root is not "redirected away".
- SSRF refusals (rule 5) are `unreachable`: a domain now pointing into private space is often a
  sinkhole, but we did not observe it; 48 hours of it confirms a takedown anyway.
- Only 401/403/429 are `blocked` (DESIGN.md); other 4xx codes are `unreachable`, so a URL that
  answers 400 for 48 hours counts as taken down, while a blocked one never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    ONLINE = "online"
    REMOVED = "removed"
    DNS_GONE = "dns_gone"
    UNREACHABLE = "unreachable"
    BLOCKED = "blocked"


DOWN: frozenset[Outcome] = frozenset({Outcome.REMOVED, Outcome.DNS_GONE})
"""Outcomes that are evidence of removal (they count towards a takedown)."""

REMOVED_STATUS = frozenset({404, 410, 451})
BLOCKED_STATUS = frozenset({401, 403, 429})
NETWORK_ERRORS = frozenset({"timeout", "refused", "reset", "tls"})
ERROR_KINDS = frozenset(
    {
        "dns_nxdomain",
        "dns_error",
        "timeout",
        "refused",
        "reset",
        "tls",
        "too_large",
        "ssrf_refused",
        "other",
    }
)
TOO_LARGE_IMAGE_ERRORS = frozenset({"too_large", "decompression_bomb", "time_budget"})


@dataclass(frozen=True, slots=True)
class Fetch:
    """What the spider saw for one reported URL (never the content itself)."""

    url: str = ""
    final_url: str = ""
    http_status: int | None = None
    error: str | None = None  # one of ERROR_KINDS, None when a response was read
    redirects: tuple[tuple[str, int], ...] = ()  # (url, status) of each hop
    content_type: str | None = None
    is_image: bool | None = None  # the body decoded as an image (None: not attempted)
    image_error: str | None = None  # why it did not decode: its kind ("corrupt",
    # "not_image", "decompression_bomb", "too_large"...)
    # optionally followed by ": detail"
    matched: bool | None = None  # hash comparison with the baseline; None: no baseline
    distance: int | None = None
    algorithm: str | None = None
    placeholder: bool = False  # the image equals the host's learned placeholder
    final_is_front_page: bool = False  # redirect target is "/", the site root, or "removed"
    gallery: bool = False  # an HTML page whose images were hashed
    video: bool = False  # the body is a video (decoded, or tried as one: image_error says why)


def image_error_kind(error: str | None) -> str | None:
    """The kind of an image error: its text before any ":" ("decompression_bomb: 9x9 > 8")."""
    return None if error is None else error.split(":", 1)[0].strip().lower()


def _redirected(f: Fetch) -> bool:
    return bool(f.redirects) or bool(f.final_url and f.url and f.final_url != f.url)


def _error(kind: str) -> tuple[Outcome, str]:
    if kind == "dns_nxdomain":
        return Outcome.DNS_GONE, "nxdomain"
    if kind == "dns_error":
        return Outcome.UNREACHABLE, "dns_error"
    if kind in NETWORK_ERRORS or kind in ("too_large", "ssrf_refused"):
        return Outcome.UNREACHABLE, kind
    return Outcome.UNREACHABLE, "other_error"


_NOT_IMAGE_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")


def _looks_like_image(f: Fetch) -> bool:
    """Did the response present itself as an image? Its content type says so first; without a
    telling type, a decode error means the bytes were tried as one."""
    kind = (f.content_type or "").lower().strip()
    if kind.startswith("image/"):
        return True
    if kind.startswith(_NOT_IMAGE_TYPES):
        return False
    return f.image_error is not None


def _body(f: Fetch) -> tuple[Outcome, str]:
    """A complete 2xx body: compare what decoded with the baseline."""
    if f.placeholder:
        return Outcome.REMOVED, "placeholder"
    if f.gallery:
        if not f.is_image:
            return Outcome.REMOVED, "no_images"
        if f.matched is None:
            return Outcome.ONLINE, "first_check"
        return (Outcome.ONLINE, "hash_match") if f.matched else (Outcome.REMOVED, "content_changed")
    if f.is_image:
        if f.matched is None:
            return Outcome.ONLINE, "first_check"
        return (Outcome.ONLINE, "hash_match") if f.matched else (Outcome.REMOVED, "content_changed")
    if image_error_kind(f.image_error) in TOO_LARGE_IMAGE_ERRORS:
        return Outcome.UNREACHABLE, "too_large"
    if f.video:
        if image_error_kind(f.image_error) == "truncated":
            return Outcome.UNREACHABLE, "video_truncated"
        return Outcome.REMOVED, "corrupt_video"
    if f.is_image is None and f.image_error is None:
        kind = (f.content_type or "").lower()
        if kind and not kind.startswith("image/"):
            return Outcome.REMOVED, "not_an_image"
        return Outcome.UNREACHABLE, "not_hashed"
    if _looks_like_image(f):
        return Outcome.REMOVED, "corrupt_image"
    return Outcome.REMOVED, "not_an_image"


def classify(f: Fetch) -> tuple[Outcome, str]:
    """The outcome of one check and its reason (see the module table)."""
    status = f.http_status
    if f.matched and f.error is None and status is not None:
        return Outcome.ONLINE, "hash_match"  # rule 0: whatever the status
    if f.final_is_front_page and _redirected(f):
        return Outcome.REMOVED, "redirect_away"
    if status is None:
        return _error(f.error or "other")
    if status in REMOVED_STATUS:
        return Outcome.REMOVED, f"http_{status}"
    if status in BLOCKED_STATUS:
        return Outcome.BLOCKED, f"http_{status}"
    if not 200 <= status < 300:
        return Outcome.UNREACHABLE, f"http_{status}"
    if f.error is not None:
        return _error(f.error)
    return _body(f)
