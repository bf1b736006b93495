"""Partition leases: which worker serves which hoster's queue.

A worker takes work only from queues it holds a lease on (SET NX PX, renewed while it works,
expiring when it dies), so one hoster is crawled by one worker at a time and the per-hoster
concurrency and AutoThrottle of that worker hold across the whole fleet. Each worker holds at
most its fair share: ceil(non-empty queues / live workers); a worker over its share gives up
queues it has nothing in flight for, so a worker that joins later gets work.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from monitor.distributed.keys import Keys

# Renew or release only a lease we still hold (another worker may have it after an expiry).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class PartitionLeases:
    def __init__(self, client: Any, keys: Keys, kind: str, worker: str, lease_s: float) -> None:
        self.client = client
        self.keys = keys
        self.kind = kind
        self.worker = worker
        self.lease_ms = max(100, int(lease_s * 1000))
        self.held: list[str] = []
        self.draining: set[str] = set()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._turn = 0

    def heartbeat(self) -> int:
        """Record this worker as live; return how many workers are live."""
        now_ms = int(time.time() * 1000)
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(self.keys.workers, {self.worker: now_ms})
        pipe.zremrangebyscore(self.keys.workers, "-inf", now_ms - 3 * self.lease_ms)
        pipe.zcount(self.keys.workers, now_ms - self.lease_ms, "+inf")
        return max(1, int(pipe.execute()[-1]))

    def _nonempty(self) -> list[str]:
        parts = sorted(_text(p) for p in self.client.smembers(self.keys.partitions(self.kind)))
        if not parts:
            return []
        pipe = self.client.pipeline(transaction=False)
        for part in parts:
            pipe.llen(self.keys.queue(self.kind, part))
        return [p for p, n in zip(parts, pipe.execute(), strict=True) if n]

    def refresh(self, busy: Iterable[str] = ()) -> list[str]:
        """Renew held leases, give up empty or surplus ones (not `busy` ones: they still have
        requests in flight), take free ones up to the fair share. Returns the held list."""
        busy = set(busy)
        live = self.heartbeat()
        waiting = self._nonempty()
        share = max(1, math.ceil(len(waiting) / live)) if waiting else 0
        kept: list[str] = []
        self.draining = set()
        for part in self.held:
            lease = self.keys.lease(self.kind, part)
            if not self._renew(keys=[lease], args=[self.worker, self.lease_ms]):
                continue  # expired and taken: not ours
            surplus = part not in waiting or len(kept) - len(self.draining) >= share
            if surplus and part not in busy:
                self._release(keys=[lease], args=[self.worker])
                continue
            if surplus:
                self.draining.add(part)  # finish what is in flight only
            kept.append(part)
        for part in waiting:
            if len(kept) - len(self.draining) >= share:
                break
            if part in kept:
                continue
            if self.client.set(
                self.keys.lease(self.kind, part), self.worker, nx=True, px=self.lease_ms
            ):
                kept.append(part)
        self.held = kept
        return kept

    def take(self, room: int) -> list[tuple[str, bytes]]:
        """Up to `room` messages from the held queues (not draining ones), round-robin."""
        parts = [p for p in self.held if p not in self.draining]
        out: list[tuple[str, bytes]] = []
        if not parts or room <= 0:
            return out
        each = max(1, math.ceil(room / len(parts)))
        self._turn = (self._turn + 1) % len(parts)
        for part in parts[self._turn :] + parts[: self._turn]:
            want = min(each, room - len(out))
            if want <= 0:
                break
            got = self.client.rpop(self.keys.queue(self.kind, part), want) or []
            out.extend((part, m) for m in got)
        return out

    def release_all(self) -> None:
        for part in self.held:
            self._release(keys=[self.keys.lease(self.kind, part)], args=[self.worker])
        self.held = []
        self.client.zrem(self.keys.workers, self.worker)
