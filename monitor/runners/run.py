"""One crawl-run record for every runner: its `crawls` row, its stop signal and its closing stats.

`crawl_run(db, kind, planned=..., stop=...)` inserts the row (`running`, with the pid), gives the
runner a `CrawlRun`, and on the way out writes how it ended: `finished`, `interrupted` (the stop
event was set, or `interrupt()` was called: a signal) or `failed` (an exception, re-raised),
with the finish time and whatever the runner recorded (`planned`, `done`, `stats`: the
`monitor/` Scrapy stats as JSON). `on_stop(callback)` runs an async callback once when the stop
event is set (stopping the Scrapy crawler); it is cancelled when the run ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from monitor.core import clock


@dataclass
class CrawlRun:
    db: Database
    id: int
    kind: str
    stop: asyncio.Event | None
    planned: int | None = None
    done: int | None = None
    stats: dict[str, Any] | None = None
    interrupted: bool = False
    started: float = field(default_factory=time.monotonic)
    _watchers: list[asyncio.Future] = field(default_factory=list)

    @property
    def stopping(self) -> bool:
        return self.interrupted or (self.stop is not None and self.stop.is_set())

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def interrupt(self) -> None:
        self.interrupted = True

    def on_stop(self, callback: Callable[[], Awaitable[Any]]) -> None:
        """Await `callback()` once the stop event is set (nothing when there is none)."""
        if self.stop is None:
            return
        stop = self.stop

        async def wait() -> None:
            await stop.wait()
            self.interrupted = True
            await callback()

        self._watchers.append(asyncio.ensure_future(wait()))


def monitor_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """The stats a crawl row keeps: ours (under `monitor/`), not Scrapy's."""
    return {k: v for k, v in stats.items() if k.startswith("monitor/")}


@contextmanager
def crawl_run(
    db: Database, kind: str, *, planned: int = 0, stop: asyncio.Event | None = None
) -> Iterator[CrawlRun]:
    row = db.execute(
        "INSERT INTO crawls (kind, started_at, status, planned, pid) VALUES "
        "(?, ?, 'running', ?, ?)",
        [kind, clock.now_iso(), planned, os.getpid()],
    )
    assert row.lastrowid is not None  # an INSERT's rowid
    run = CrawlRun(db, row.lastrowid, kind, stop)
    status = "finished"
    try:
        yield run
    except BaseException:
        status = "failed"
        raise
    finally:
        for watcher in run._watchers:
            watcher.cancel()
        if run.stopping:  # a stop can surface as an exception: still a stop
            status = "interrupted"
        db.execute(
            "UPDATE crawls SET finished_at = ?, status = ?, "
            "planned = COALESCE(?, planned), done = COALESCE(?, done), "
            "stats = COALESCE(?, stats) WHERE id = ?",
            [
                clock.now_iso(),
                status,
                run.planned,
                run.done,
                json.dumps(run.stats) if run.stats is not None else None,
                run.id,
            ],
        )
