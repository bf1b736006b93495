"""An origin learnt from a direct check: a report behind "X (origin unknown)" reached directly.

A report whose check was attributed to a CDN group (a hosters row with `cdn` set: the origin
behind CDN X unknown, monitor.attribution.cdn_attribute) and that later has a check answered by no
CDN edge
(`checks.edge` NULL: neither the CDN registry nor the headers named one) from a curated hoster
(neither an unmapped ASN fallback nor a CDN group) has shown its origin: `reports.origin_hoster_id`
becomes that hoster (of the latest such check). From then on a check through the edge is
attributed to it (monitor.attribution.asn.resolve_pending reads `origin_hoster_id`), and the report
is
grouped under it rather than the CDN group (reports.cdn_groups.attributed_sql: the CDN group
label holds only while the origin is unknown). An origin the hotline named is never replaced;
earlier checks keep the attribution they had when made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlite_utils import Database

_LEARNT = """
SELECT c.report_id, c.hoster_id FROM checks c
JOIN hosters h ON h.id = c.hoster_id
JOIN reports r ON r.id = c.report_id
WHERE c.report_id IN (SELECT value FROM json_each(?))
  AND r.origin_hoster_id IS NULL
  AND c.ip IS NOT NULL AND c.edge IS NULL AND h.cdn IS NULL AND h.unmapped = 0
  AND EXISTS (SELECT 1 FROM checks e JOIN hosters g ON g.id = e.hoster_id
              WHERE e.report_id = c.report_id AND g.cdn IS NOT NULL
                AND (e.checked_at < c.checked_at
                     OR (e.checked_at = c.checked_at AND e.id < c.id)))
ORDER BY c.report_id, c.checked_at, c.id
"""


def learn_origins(db: Database, report_ids: Iterable[int]) -> dict[int, int]:
    """Set `origin_hoster_id` of these reports where a direct check showed it; returns
    report id -> origin hoster id of the reports that learnt one now."""
    ids = json.dumps(sorted({int(i) for i in report_ids}))
    if ids == "[]" or "cdn" not in db["hosters"].columns_dict:  # before m008: no CDN
        return {}
    learnt: dict[int, int] = {}
    for report_id, hoster_id in db.execute(_LEARNT, [ids]):
        learnt[report_id] = hoster_id  # ordered by time: the latest direct check wins
    for report_id, hoster_id in learnt.items():
        db.execute(
            "UPDATE reports SET origin_hoster_id = ? WHERE id = ? AND origin_hoster_id IS NULL",
            [hoster_id, report_id],
        )
    return learnt
