"""Read notices for a report out of the store (the I/O adapter of reports.stats).

`notices()` is the fast path: one SQL pass with times converted to epoch seconds by SQLite,
straight into numpy columns. `records()` yields `NoticeRecord`s (same selection, same meaning),
`online_items()` fetches URLs for the still-online list only. A notice is attributed to its
origin hoster behind a CDN when known, else the hoster notified at notice time
(`notified_hoster_id`), falling back to the latest attributed hoster
(reports.cdn_groups.attributed_sql); its country is that hoster's, else its ASN's (asn_names).
The window is on noticed_at: `since` inclusive, `until` exclusive.

Time to takedown is measured to the first confirmed takedown, `first_takedown_at`, which a
reappearance does not undo (`takedown_at` is only the current episode's: NULL again once the
material is back online). Rows not yet refreshed since that column came (schema m003) fall back
to `takedown_at`, and so does a database not yet migrated (opened read-only by `report`).
The removal lies after the last online check before that takedown (`Notices.online_before`:
`last_online_at`, or for a reappeared notice, whose `last_online_at` is later, the latest online
check before its first takedown, read from its checks).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlite_utils import Database

from monitor.core import clock
from reports.cdn_groups import attributed_sql
from reports.frame import Notices
from reports.model import STATES, NoticeRecord, OnlineItem

_EPOCH = (
    "unixepoch({})"
    if sqlite3.sqlite_version_info >= (3, 38)
    else "CAST(strftime('%s', {}) AS INTEGER)"
)
_TIMES = (
    "r.noticed_at",
    "{first}",
    "r.first_down_at",
    "r.last_online_at",
    "r.last_checked_at",
    "r.takedown_at",
)
# the last online check before the first takedown (for a reappeared notice, from its checks)
_ONLINE_BEFORE = (
    "CASE WHEN r.reappearances > 0 AND {first} IS NOT NULL THEN "
    "(SELECT MAX(c.checked_at) FROM checks c WHERE c.report_id = r.id "
    "AND c.outcome = 'online' AND c.checked_at < {first}) "
    "ELSE r.last_online_at END"
)
_REUPLOADS = (
    "LEFT JOIN (SELECT of_report_id, count(*) AS n FROM reuploads "
    "WHERE of_report_id IS NOT NULL GROUP BY of_report_id) u ON u.of_report_id = r.id"
)


def _where(
    db: Database, since: str | None, until: str | None, hosters: Sequence[str] | None
) -> tuple[str, list[Any]]:
    clauses, params = ["1"], []
    if since:
        clauses.append("r.noticed_at >= ?")
        params.append(since)
    if until:
        clauses.append("r.noticed_at < ?")
        params.append(until)
    if hosters:
        ids = [
            row[0]
            for row in db.execute(
                f"SELECT id FROM hosters WHERE name IN ({','.join('?' * len(hosters))})",
                list(hosters),
            ).fetchall()
        ]
        clauses.append(f"{attributed_sql(db)} IN ({','.join('?' * len(ids)) or 'NULL'})")
        params.extend(ids)
    return " AND ".join(clauses), params


def first_takedown_sql(db: Database) -> str:
    """SQL for a report's first confirmed takedown (`r.` is the reports table)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(reports)")}
    if "first_takedown_at" in columns:
        return "COALESCE(r.first_takedown_at, r.takedown_at)"
    return "r.takedown_at"  # schema before m003 (a read-only open does not migrate)


def _hoster_table(db: Database) -> tuple[dict[int, str], dict[int, str | None], dict[int, str]]:
    names, countries = {}, {}
    for hid, name, country in db.execute("SELECT id, name, country FROM hosters"):
        names[hid], countries[hid] = name, country
    asn_country = {
        asn: c
        for asn, c in db.execute(
            "SELECT asn, country FROM asn_names WHERE country IS NOT NULL AND country != ''"
        )
    }
    return names, countries, asn_country


def registered_asns(db: Database) -> dict[str, set[int]]:
    """Hoster name -> the ASNs of its registry entries (hoster_networks)."""
    out: dict[str, set[int]] = {}
    for name, asn in db.execute(
        "SELECT h.name, n.asn FROM hoster_networks n "
        "JOIN hosters h ON h.id = n.hoster_id WHERE n.asn IS NOT NULL"
    ):
        out.setdefault(name, set()).add(int(asn))
    return out


def _ints_in(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("id", item.get("report_id"))
        if isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
    return out


def _alert_targets(
    subject: Any, report_ids: set[int], reupload_ids: set[int], urls: set[str]
) -> None:
    """Collect what an alert subject names: report ids, re-upload ids, URLs (any nesting)."""
    if isinstance(subject, dict):
        for key, value in subject.items():
            k = key.lower()
            if k in ("report_id", "report_ids", "reports", "tracked_report_id", "of_report_id"):
                report_ids.update(_ints_in(value))
            elif k in ("reupload_id", "reupload_ids", "reuploads"):
                reupload_ids.update(_ints_in(value))
            if isinstance(value, dict | list):
                _alert_targets(value, report_ids, reupload_ids, urls)
            elif isinstance(value, str) and k in ("url", "urls", "page_url"):
                urls.add(value)
    elif isinstance(subject, list):
        for item in subject:
            if isinstance(item, str):
                urls.add(item)
            else:
                _alert_targets(item, report_ids, reupload_ids, urls)


def alerted_at(db: Database) -> dict[int, str]:
    """Report id -> when the first alert naming it (or a re-upload it tracks) was sent."""
    tracked = {
        rid: tid
        for rid, tid in db.execute(
            "SELECT id, tracked_report_id FROM reuploads WHERE tracked_report_id IS NOT NULL"
        )
    }
    first: dict[int, str] = {}
    for subject, sent_at in db.execute(
        "SELECT subject, sent_at FROM alerts WHERE sent_at IS NOT NULL ORDER BY sent_at"
    ):
        try:
            data = json.loads(subject)
        except (TypeError, ValueError):
            continue
        reports: set[int] = set()
        reuploads: set[int] = set()
        urls: set[str] = set()
        _alert_targets(data, reports, reuploads, urls)
        reports.update(tracked[r] for r in reuploads if r in tracked)
        if urls:
            marks = ",".join("?" * len(urls))
            reports.update(
                row[0]
                for row in db.execute(
                    f"SELECT id FROM reports WHERE url IN ({marks})", sorted(urls)
                )
            )
        for rid in reports:
            first.setdefault(rid, sent_at)
    return first


# r.state as its index in STATES (the frame's int8 code)
_STATE_CODE = (
    "CASE r.state "
    + " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(STATES[:-1]))
    + f" ELSE {len(STATES) - 1} END"
)


def notices(
    db: Database,
    *,
    since: str | None = None,
    until: str | None = None,
    hosters: Sequence[str] | None = None,
) -> Notices:
    where, params = _where(db, since, until, hosters)
    first = first_takedown_sql(db)
    times = ", ".join(_EPOCH.format(t.format(first=first)) for t in _TIMES)
    before = _EPOCH.format(_ONLINE_BEFORE.format(first=first))
    sql = (
        f"SELECT r.id, r.kind = 'reupload', {times}, "
        f"{_STATE_CODE}, r.reappearances, r.moves, COALESCE(u.n, 0), "
        f"{attributed_sql(db)}, r.asn, {before} "
        f"FROM reports r {_REUPLOADS} WHERE {where} ORDER BY r.id"
    )
    rows = db.execute(sql, params).fetchall()
    a = np.array(rows, dtype=np.float64).reshape(len(rows), 15)
    names, countries, asn_country = _hoster_table(db)
    ids = a[:, 0].astype(np.int64)
    hoster_ids = np.nan_to_num(a[:, 12], nan=-1).astype(np.int64)
    asn = np.nan_to_num(a[:, 13], nan=-1).astype(np.int64)
    used, h_inv = np.unique(hoster_ids, return_inverse=True)
    labels = sorted({names[h] for h in used.tolist() if h in names})
    code = {name: i for i, name in enumerate(labels)}
    hoster = (
        np.array([code.get(names.get(h, ""), -1) for h in used.tolist()], dtype=np.int64)[
            h_inv.reshape(-1)
        ]
        if len(rows)
        else ids
    )
    # (hoster, asn) pairs as one int64 key: a 1-d unique is far faster than a 2-d one
    pair_key = ((hoster_ids + 1) << 33) | (asn + 1)
    pairs, p_inv = np.unique(pair_key, return_inverse=True)
    country_of = [
        countries.get(int(k >> 33) - 1) or asn_country.get(int(k & (2**33 - 1)) - 1)
        for k in pairs.tolist()
    ]
    c_labels = sorted({c for c in country_of if c})
    c_code = {c: i for i, c in enumerate(c_labels)}
    country = (
        np.array([c_code.get(c or "", -1) for c in country_of], dtype=np.int64)[p_inv.reshape(-1)]
        if len(rows)
        else ids
    )
    first_alert = alerted_at(db)
    alerted = (
        np.array(
            [
                clock.parse(first_alert[i]).timestamp() if i in first_alert else np.nan
                for i in ids.tolist()
            ],
            dtype=np.float64,
        )
        if first_alert
        else np.full(len(rows), np.nan)
    )
    return Notices(
        ids=ids,
        reupload=a[:, 1] == 1,
        noticed=a[:, 2],
        takedown=a[:, 3],
        first_down=a[:, 4],
        last_online=a[:, 5],
        last_checked=a[:, 6],
        alerted=alerted,
        state=a[:, 8].astype(np.int8),
        reappearances=a[:, 9].astype(np.int64),
        moves=a[:, 10].astype(np.int64),
        reuploads=a[:, 11].astype(np.int64),
        hoster=hoster,
        asn=asn,
        country=country,
        hoster_labels=tuple(labels),
        country_labels=tuple(c_labels),
        latest_takedown=a[:, 7],
        online_before=a[:, 14],
    )


def records(
    db: Database,
    *,
    since: str | None = None,
    until: str | None = None,
    hosters: Sequence[str] | None = None,
) -> Iterator[NoticeRecord]:
    """The same selection as `notices()`, one `NoticeRecord` per notice. Its `takedown_at` is
    the first confirmed takedown (what time to takedown is measured to); the current episode's
    is not carried (see `Notices.latest_takedown`)."""
    where, params = _where(db, since, until, hosters)
    names, countries, asn_country = _hoster_table(db)
    first_alert = alerted_at(db)
    sql = (
        f"SELECT r.id, r.kind, {attributed_sql(db)}, r.asn, "
        f"r.noticed_at, {first_takedown_sql(db)}, r.last_online_at, r.first_down_at, "
        "r.last_checked_at, r.state, r.reappearances, r.moves, COALESCE(u.n, 0), r.url, "
        "r.reference "
        f"FROM reports r {_REUPLOADS} WHERE {where} ORDER BY r.id"
    )
    for row in db.execute(sql, params):
        (
            rid,
            kind,
            hid,
            asn,
            noticed,
            takedown,
            last_online,
            first_down,
            last_checked,
            state,
            reapp,
            moves,
            reups,
            url,
            reference,
        ) = row
        yield NoticeRecord(
            report_id=rid,
            kind=kind,
            hoster=names.get(hid),
            asn=asn,
            country=countries.get(hid) or asn_country.get(asn),  # type: ignore[arg-type]
            noticed_at=noticed,
            takedown_at=takedown,
            last_online_at=last_online,
            first_down_at=first_down,
            last_checked_at=last_checked,
            state=state,
            reappearances=reapp,
            moves=moves,
            reuploads=reups,
            alerted_at=first_alert.get(rid),
            url=url,
            reference=reference,
        )


def online_items(
    db: Database,
    ids: Iterable[int],
    groups: dict[int, str],
    hours: dict[int, float],
    reappeared: set[int],
) -> list[OnlineItem]:
    """The still-online list for the given report ids (URLs fetched for these only)."""
    wanted = list(ids)
    found: dict[int, tuple[str, str | None, str]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for rid, url, reference, noticed in db.execute(
            f"SELECT id, url, reference, noticed_at FROM reports WHERE id IN "
            f"({','.join('?' * len(chunk))})",
            chunk,
        ):
            found[rid] = (url, reference, noticed)
    return [
        OnlineItem(
            report_id=rid,
            group=groups[rid],
            url=found[rid][0],
            reference=found[rid][1],
            noticed_at=found[rid][2],
            online_hours=hours[rid],
            reappeared=rid in reappeared,
        )
        for rid in wanted
        if rid in found
    ]
