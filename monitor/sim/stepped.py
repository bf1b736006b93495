"""The stepped recheck: the demo's and accuracy tests' way to crawl simulated days.

`SteppedRecheckSpider` crawls what is due at each of a series of clock times in turn: before a
step `on_step(when)` moves the simulated clock (and does the demo's upkeep), then the step's due
checks are fetched, all stored, and `after_step(when)` runs (attribution, so the next step's
schedule sees the hosters). The production RecheckSpider knows nothing of steps.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from monitor import store
from monitor.core.config import Config
from monitor.runners.crawl import CrawlSummary, attribute, run_crawl
from spiders.spiders.recheck import RecheckSpider

Step = Callable[[datetime], Awaitable[None]]


class SteppedRecheckSpider(RecheckSpider):
    name = "recheck_stepped"

    def __init__(
        self,
        *args: Any,
        steps: Iterable[datetime] = (),
        on_step: Step | None = None,
        after_step: Step | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.steps = steps  # may be a lazy iterator
        self.on_step = on_step
        self.after_step = after_step

    async def _requests(self, db):
        for when in self.steps:
            if self.on_step:
                await self.on_step(when)
            async for request in self._due(db):
                yield request
            while self.finished < self.planned:
                await asyncio.sleep(0.005)
            if self.writer is not None:
                self.writer.flush()
            if self.after_step:
                await self.after_step(when)
            if self.limit and self.planned >= self.limit:
                return


async def stepped_crawl(
    db_path: str | os.PathLike[str],
    config: Config,
    steps: Iterable[datetime],
    *,
    on_step: Step | None = None,
    resolve_asn: bool = True,
    **kwargs: Any,
) -> CrawlSummary:
    """run_crawl with the stepped spider; attribution after every step when `resolve_asn`."""
    db = store.connect(db_path)
    resolved = 0

    async def after_step(_when: datetime) -> None:
        nonlocal resolved
        resolved += await attribute(db, config)

    try:
        result = await run_crawl(
            db_path,
            config,
            resolve_asn=False,
            spider=SteppedRecheckSpider,
            spider_args={
                "steps": steps,
                "on_step": on_step,
                "after_step": after_step if resolve_asn else None,
            },
            **kwargs,
        )
    finally:
        db.conn.close()
    result.asn_resolved += resolved
    return result
