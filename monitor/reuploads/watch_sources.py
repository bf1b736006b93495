"""Watch sources: pages and galleries re-scanned for re-uploads on their own interval."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from monitor import store
from monitor.core import clock
from monitor.core.config import Config
from monitor.core.urls import clean, key


def add_source(
    db: Database,
    url: str,
    config: Config,
    *,
    depth: int | None = None,
    max_pages: int | None = None,
) -> dict[str, Any]:
    """Add (or update the bounds of) a watch source; its first scan is due at once."""
    cleaned = clean(url)
    row = {
        "url": cleaned,
        "url_key": key(cleaned),
        "depth": config.watch.depth if depth is None else depth,
        "max_pages": config.watch.max_pages if max_pages is None else max_pages,
        "interval_s": int(config.watch.interval.total_seconds()),
        "added_at": clock.now_iso(),
        "next_scan_at": clock.now_iso(),
    }
    with store.transaction(db):
        db.execute(
            "INSERT INTO watch_sources (url, url_key, depth, max_pages, interval_s, added_at, "
            "next_scan_at) VALUES (:url, :url_key, :depth, :max_pages, :interval_s, :added_at, "
            ":next_scan_at) ON CONFLICT(url_key) DO UPDATE SET depth = excluded.depth, "
            "max_pages = excluded.max_pages",
            row,
        )
    return dict(next(db.query("SELECT * FROM watch_sources WHERE url_key = ?", [row["url_key"]])))
