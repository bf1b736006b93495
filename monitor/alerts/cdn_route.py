"""Who is alerted about a URL served through a CDN edge: the CDN, asked to forward, and the origin.

A CDN or reverse proxy does not store the material; the hoster of the origin server behind it
does. An alert for a URL seen through CDN X's edge therefore goes to:

1. the CDN's abuse channel: the hosters row "X (origin unknown)" (`hosters.cdn = 'X'`, the
   CDN's abuse e-mail from the CDN registry; monitor.attribution.cdn_attribute), with an explicit
   request
   to forward the notice to the origin hoster (role "cdn");
2. and the origin hoster when it is known (role "origin"): the hoster the check was attributed
   to when that is not a CDN group (the origin came from the hotline's import), else the
   report's `origin_hoster_id`, else an origin hoster the hotline named for another report on
   the same host.

The edge is the CDN the caller saw (response headers or the IP), else the `cdn` of the hosters
row the URL was attributed to, else the CDN whose edge answered the report's latest online
check. No edge: the serving hoster alone (role None), as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from monitor.attribution.cdn_attribute import EdgeAttribution
from monitor.attribution.hosters import Registry

CDN = "cdn"
ORIGIN = "origin"


@dataclass(frozen=True)
class Recipient:
    hoster_id: int | None
    role: str | None  # None: the serving hoster (no CDN); "cdn"; "origin"


@dataclass(frozen=True)
class Route:
    edge: str | None  # the CDN in front of the URL, None: served directly
    recipients: tuple[Recipient, ...]
    origin_id: int | None = None  # the origin hoster when known (also a recipient)


def _one(db: Database, sql: str, params: list[Any]) -> Any:
    return db.conn.execute(sql, params).fetchone()


def _cdn_of(db: Database, hoster_id: int | None) -> str | None:
    if hoster_id is None:
        return None
    row = _one(db, "SELECT cdn FROM hosters WHERE id = ?", [hoster_id])
    return row[0] if row and row[0] else None


def edge_of(
    db: Database, hoster_id: int | None, report_id: int | None, seen: str | None = None
) -> str | None:
    """The CDN in front of the URL (see the module docstring), or None."""
    if seen:
        return seen
    cdn = _cdn_of(db, hoster_id)
    if cdn or report_id is None:
        return cdn
    row = _one(
        db,
        "SELECT edge FROM checks WHERE report_id = ? AND outcome = 'online' "
        "ORDER BY checked_at DESC, id DESC LIMIT 1",
        [report_id],
    )
    return row[0] if row and row[0] else None


def group_id(db: Database, cdn: str) -> int:
    """The hosters row "CDN (origin unknown)" of `cdn` (created as attribution creates it)."""
    row = _one(db, "SELECT id FROM hosters WHERE cdn = ? ORDER BY id LIMIT 1", [cdn])
    if row is not None:
        return int(row[0])

    return EdgeAttribution(db, Registry.load(db)).group(cdn).id


def _host(url: str | None) -> str:
    try:
        return (urlsplit(url or "").hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def origin_of(
    db: Database, hoster_id: int | None, report_id: int | None, url: str | None
) -> int | None:
    """The origin hoster behind the CDN when known (see the module docstring), else None."""
    if hoster_id is not None and _cdn_of(db, hoster_id) is None:
        return hoster_id
    if report_id is not None:
        row = _one(db, "SELECT origin_hoster_id FROM reports WHERE id = ?", [report_id])
        if row and row[0] is not None:
            return int(row[0])
    host = _host(url)
    if not host:
        return None
    for other_url, origin in db.conn.execute(
        "SELECT url, origin_hoster_id FROM reports WHERE origin_hoster_id IS NOT NULL "
        "ORDER BY id DESC"
    ):
        if _host(other_url) == host:
            return int(origin)
    return None


def route(
    db: Database,
    *,
    hoster_id: int | None,
    report_id: int | None,
    url: str | None,
    edge: str | None = None,
) -> Route:
    """The recipients of the alert of `url` (attributed to `hoster_id`), first the one whose
    alert keys stay as they were before CDNs were known (the attributed hoster)."""
    cdn = edge_of(db, hoster_id, report_id, edge)
    if cdn is None:
        return Route(None, (Recipient(hoster_id, None),))
    group = group_id(db, cdn)
    origin = origin_of(db, hoster_id, report_id, url)
    recipients = [Recipient(group, CDN)]
    if origin is not None and origin != group:
        recipients.append(Recipient(origin, ORIGIN))
    recipients.sort(key=lambda r: r.hoster_id != hoster_id)  # the attributed hoster first
    return Route(cdn, tuple(recipients), origin)
