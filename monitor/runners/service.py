"""`ntd-monitor run`: keep going unattended.

Loop: crawl what is due (rechecks, then watch scans), deliver pending alerts, then sleep until
the next due time (bounded, so new imports are picked up). SIGTERM or SIGINT stops it cleanly
within seconds: a running crawl or watch scan cuts its downloads in flight and is recorded as
interrupted, its writer flushes the last batch, the ASN stage is left for the next cycle, and
the loop exits with status 0. The command holds the database's crawl lock while it runs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from monitor import store
from monitor.alerts.deliver import send_pending
from monitor.core import clock
from monitor.core.config import Config
from monitor.runners.crawl import run_crawl
from monitor.runners.watch import run_watch

log = logging.getLogger("ntd-monitor.run")
MAX_SLEEP = timedelta(minutes=15)


def next_due(db) -> datetime | None:
    row = db.execute(
        "SELECT MIN(t) FROM (SELECT MIN(next_check_at) AS t FROM reports "
        "UNION ALL SELECT MIN(next_scan_at) FROM watch_sources "
        "UNION ALL SELECT MIN(next_attempt_at) FROM alerts WHERE state = 'pending')"
    ).fetchone()
    return clock.parse(row[0]) if row and row[0] else None


async def run_forever(db_path, config: Config, stop: asyncio.Event, *, report=print) -> int:

    cycles = 0
    while not stop.is_set():
        crawl = await run_crawl(db_path, config, stop=stop)
        if stop.is_set():
            break
        watch = await run_watch(db_path, config, stop=stop)
        if stop.is_set():
            break
        db = store.connect(db_path)
        sent = await send_pending(db, config)
        cycles += 1
        report(
            f"{clock.now_iso()} cycle {cycles}: {crawl.written} checks, "
            f"{getattr(watch, 'images', 0)} images scanned, "
            f"{getattr(sent, 'sent', 0)} alerts sent"
        )
        due = next_due(db)
        db.conn.close()
        wait = (
            MAX_SLEEP
            if due is None
            else min(MAX_SLEEP, max(due - clock.now(), timedelta(seconds=1)))
        )
        try:
            await asyncio.wait_for(stop.wait(), wait.total_seconds())
        except TimeoutError:
            pass
    report(f"{clock.now_iso()} stopped after {cycles} cycle(s)")
    return 0
