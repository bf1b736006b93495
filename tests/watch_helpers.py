"""Helpers for watch and re-upload tests: a two-hoster world whose reported items are copied
(transformed) to another hoster's gallery, and baselines taken from the served bytes."""

from __future__ import annotations

from hashes.compute import compute
from monitor import store
from monitor.core import clock, urls
from monitor.sim.scenario import from_dict


def copy_scenario(
    transforms=("mirror",),
    *,
    items: int = 3,
    copy_items: int = 0,
    copy_galleries: int = 1,
    reupload_share: float = 1.0,
):
    """'Origin Host' holds reported items (removed after 2h); every item's copy appears on
    'Copy Host' within a day, transformed by one of `transforms`."""
    return from_dict(
        {
            "name": "watch",
            "seed": 11,
            "start": "2026-03-01T00:00:00Z",
            "days": 20,
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "reappear_share": 0.0,
            "reupload_share": reupload_share,
            "reupload_other_hoster_share": 1.0,
            "reupload_after_days": [0.5, 1.0],
            "transforms": list(transforms),
            "baseline_share": 0.0,
            "hash_list_share": 0.0,
            "hosters": [
                {
                    "name": "Origin Host",
                    "asn": 64701,
                    "items": items,
                    "galleries": 1,
                    "delay": {"dist": "fixed", "median_hours": 2},
                },
                {
                    "name": "Copy Host",
                    "asn": 64702,
                    "items": copy_items,
                    "galleries": copy_galleries,
                    "formats": {"jpeg": 0.5, "png": 0.5},
                    "delay": {"dist": "fixed", "median_hours": 2},
                },
            ],
        }
    )


def report_id(db, world, item) -> int:
    key = urls.key(urls.clean(world.url(item)))
    return db.execute("SELECT id FROM reports WHERE url_key = ?", [key]).fetchone()[0]


def set_baseline(db, world, item, algorithms=("phash", "pdq", "sha256")) -> int:
    """Give the item's report the hashes of its served image (as an import would)."""
    rid = report_id(db, world, item)
    h = compute(world.body(item))
    db.execute("DELETE FROM report_hashes WHERE report_id = ?", [rid])
    for algorithm in algorithms:
        db.execute(
            "INSERT INTO report_hashes (report_id, algorithm, hash, origin, quality, "
            "created_at) VALUES (?, ?, ?, 'imported', ?, ?)",
            [
                rid,
                algorithm,
                getattr(h, algorithm),
                h.pdq_quality if algorithm == "pdq" else None,
                clock.now_iso(),
            ],
        )
    return rid


def hash_list(db, name: str, entries, *, allowlist: bool = False) -> list[int]:
    """A hash list with (algorithm, hash, label) entries; returns the known_hashes ids."""
    list_id = db.execute(
        "INSERT INTO hash_lists (name, source, allowlist, created_at) VALUES (?, 'test', ?, ?)",
        [name, int(allowlist), clock.now_iso()],
    ).lastrowid
    return [
        db.execute(
            "INSERT INTO known_hashes (list_id, algorithm, hash, label) VALUES (?, ?, ?, ?)",
            [list_id, a, h, label],
        ).lastrowid
        for a, h, label in entries
    ]


def reuploads(db_file) -> list[dict]:
    db = store.connect(db_file)
    rows = [
        dict(r)
        for r in db.query(
            "SELECT u.*, h.name AS hoster FROM reuploads u "
            "LEFT JOIN hosters h ON h.id = u.hoster_id ORDER BY u.id"
        )
    ]
    db.conn.close()
    return rows
