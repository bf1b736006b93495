"""How far a watch scan's page fetching runs ahead of its image fetching and hashing.

A watch page is *open* from its request until its images are fetched and hashed (or the page
failed). Left alone, Scrapy downloads and parses every due source's page at once: the scheduler
holds them all and the scraper admits some megabytes of page bodies. A 5000-source scan then
parsed nearly all of its pages in its first seconds and queued 50,000 image fetches behind
them, while the hash worker waited for images (bench/bench_watch.py: the first fifth of the
scan ran at 60-75 % of the rate of the rest). `PageGate` bounds the open pages per download
slot (a hoster's politeness key) and in all. The spider starts a new source only where its
slot has room, taking the slots in turn (`take_turns`), so a slow hoster's open pages neither
hold up the other hosters nor fill the whole budget. A page followed from a page waits for
room on its slot the same way (`watch add URL --depth 1 --max-pages 200` links up to 199); the
page that links it closes first, its images being done, so no page ever waits on itself.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


class PageGate:
    """Open pages per slot and in all, and a wait for one of them to close."""

    def __init__(self, per_slot: int, total: int) -> None:
        self.per_slot = max(1, int(per_slot))
        self.total = max(1, int(total))
        self.open: Counter[str] = Counter()
        self.open_total = 0
        self.most = 0  # the most pages open at once
        self._closed: asyncio.Event | None = None

    def room(self, slot: str) -> bool:
        """Whether one more page on `slot` may open now."""
        return self.open_total < self.total and self.open[slot] < self.per_slot

    def opened(self, slot: str) -> None:
        self.open[slot] += 1
        self.open_total += 1
        self.most = max(self.most, self.open_total)

    def closed(self, slot: str) -> None:
        if self.open[slot] <= 0:
            raise ValueError(f"no open page on slot {slot!r} to close")
        self.open[slot] -= 1
        if not self.open[slot]:
            del self.open[slot]
        self.open_total -= 1
        if self._closed is not None:
            self._closed.set()

    async def wait(self, timeout: float) -> bool:
        """Wait until a page closes: True when one did, False after `timeout` seconds."""
        if self._closed is None:
            self._closed = asyncio.Event()
        self._closed.clear()
        try:
            await asyncio.wait_for(self._closed.wait(), timeout)
        except TimeoutError:
            return False
        return True


def by_slot(items: Iterable[T], slot: Callable[[T], str]) -> dict[str, deque[T]]:
    """Items queued per slot, the slots in order of their first item."""
    queues: dict[str, deque[T]] = {}
    for item in items:
        queues.setdefault(slot(item), deque()).append(item)
    return queues


def take(queues: dict[str, deque[T]], slot: str) -> T:
    """The next item of `slot`; a slot whose queue is then empty leaves `queues`."""
    queue = queues[slot]
    item = queue.popleft()
    if not queue:
        del queues[slot]
    return item


def take_turns(queues: dict[str, deque[T]], gate: PageGate) -> list[tuple[str, T]]:
    """One (slot, item) from each slot that has room, slots in turn (`take`). The caller
    opens each taken item's page on the gate before the next round."""
    taken: list[tuple[str, T]] = []
    for slot in list(queues):
        if len(taken) + gate.open_total >= gate.total:
            break
        if gate.open[slot] < gate.per_slot:
            taken.append((slot, take(queues, slot)))
    if taken:  # the next round starts with the slots that did not get a turn in this one
        for slot, _ in taken:
            if slot in queues:
                queues[slot] = queues.pop(slot)
    return taken
