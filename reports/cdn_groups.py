"""CDN-fronted notices in the per-hoster report: their own group per CDN, never ranked.

A notice whose checks went through a CDN edge with no known origin is attributed to the hosters
row "X (origin unknown)" (`hosters.cdn = 'X'`, monitor.attribution.cdn_attribute). Here such groups
get
`cdn = True` and lose their rank (reports.stats.rank ranks only hosters), and every hoster group
states `via_cdn_only`: how many of its notices were seen only through a CDN edge (every check
with an address had `checks.edge` set), i.e. attributed through the hotline's origin data.

A notice is grouped under `attributed_sql`: its origin hoster once known (named by the hotline,
or learnt from a check that reached the origin directly, monitor.attribution.cdn_origin), else the
hoster
notified at notice time, else the latest attributed one. So a notice stays in a CDN's
"(origin unknown)" group only while its origin is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlite_utils import Database

from reports import stats
from reports.frame import Notices
from reports.model import GroupStats

BEFORE_CDN = "COALESCE(r.notified_hoster_id, r.hoster_id)"
WITH_ORIGIN = "COALESCE(r.origin_hoster_id, r.notified_hoster_id, r.hoster_id)"


def attributed_sql(db: Database) -> str:
    """The SQL expression (over `reports r`) of the hoster id a notice is grouped under."""
    return WITH_ORIGIN if "origin_hoster_id" in db["reports"].columns_dict else BEFORE_CDN


def cdn_names(db: Database) -> set[str]:
    if "cdn" not in db["hosters"].columns_dict:  # a database before m008
        return set()
    return {r[0] for r in db.execute("SELECT name FROM hosters WHERE cdn IS NOT NULL")}


def via_cdn_only(db: Database) -> set[int]:
    """Reports whose every check with an address was answered by a CDN edge."""
    if "edge" not in db["checks"].columns_dict:
        return set()
    return {
        r[0]
        for r in db.execute(
            "SELECT report_id FROM checks WHERE ip IS NOT NULL GROUP BY report_id "
            "HAVING sum(edge IS NULL) = 0"
        )
    }


def mark(
    db: Database,
    n: Notices,
    groups: Sequence[GroupStats],
    group_by: str,
    deadlines: Sequence[float],
) -> list[GroupStats]:
    """`groups` (by hoster) with the CDN groups marked and unranked, and `via_cdn_only`."""
    if group_by != "hoster":
        return list(groups)
    cdns = cdn_names(db)
    only = via_cdn_only(db)
    counts: dict[str, int] = {}
    if only:
        for rid, code in zip(n.ids.tolist(), n.hoster.tolist(), strict=True):
            if rid in only and code >= 0:
                label = n.hoster_labels[code]
                counts[label] = counts.get(label, 0) + 1
    marked = [
        replace(g, cdn=g.label in cdns, via_cdn_only=counts.get(g.label, 0), rank=None)
        for g in groups
    ]
    return stats.rank(marked, group_by, deadlines)
