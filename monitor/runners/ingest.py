"""The single writer of distributed mode (`ingest --redis URL`): Redis stream -> SQLite.

Entries are read through the consumer group "ingest" and acknowledged (then deleted) only after
the SQLite transaction that stored them committed. A writer killed in between leaves them
pending; the next writer (same or other name) reclaims them first (XREADGROUP from 0, then
XAUTOCLAIM for entries idle longer than [distributed] claim_idle) and stores them again, which
is harmless: a check slot is unique per report (INSERT OR IGNORE), placeholders are upserts,
and a re-upload seen again only moves its last-seen time. A lock in Redis keeps it single.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor import store
from monitor.attribution.asn import attribute_new_checks
from monitor.core.config import Config
from monitor.distributed.keys import GROUP, Keys, decode_item
from monitor.reuploads.record import Recorder
from monitor.runners.run import crawl_run
from monitor.runners.watch import reschedule
from monitor.runners.writer import CheckWriter


class IngestBusy(RuntimeError):
    """Another writer holds the ingest lock."""


@dataclass
class IngestSummary:
    crawl_id: int = 0
    entries: int = 0
    checks: int = 0  # check rows newly stored
    placeholders: int = 0
    images: int = 0
    videos: int = 0
    reuploads: int = 0
    scans: int = 0
    reclaimed: int = 0
    asn_resolved: int = 0
    unknown: int = 0
    seconds: float = 0.0
    types: dict[str, int] = field(default_factory=dict)


def _ensure_group(client: Any, keys: Keys) -> None:
    import redis  # the optional `distributed` extra: only the ingest command needs it

    try:
        client.xgroup_create(keys.items, GROUP, id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class _Lock:
    def __init__(self, client: Any, keys: Keys, owner: str, ttl_s: float) -> None:
        self.client, self.key, self.owner = client, keys.ingest_lock, owner
        self.ttl_ms = max(1000, int(ttl_s * 1000))

    def acquire(self) -> None:
        if self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            return
        holder = self.client.get(self.key)
        holder = holder.decode() if isinstance(holder, bytes) else holder
        if holder != self.owner:
            raise IngestBusy(
                f"another ingest is running ({holder}); there is one writer "
                f"(it expires {self.ttl_ms / 1000:.0f} s after that writer died)"
            )

    def renew(self) -> None:
        if not self.client.set(self.key, self.owner, xx=True, px=self.ttl_ms):
            self.acquire()

    def release(self) -> None:
        if (self.client.get(self.key) or b"").decode() == self.owner:
            self.client.delete(self.key)


async def run_ingest(
    db_path: Any,
    config: Config,
    client: Any,
    *,
    consumer: str | None = None,
    block_ms: int = 1000,
    idle_exit: float | None = None,
    stop: asyncio.Event | None = None,
    resolve_asn: bool = True,
    on_batch: Callable[[IngestSummary], None] | None = None,
) -> IngestSummary:
    """Store what workers observed until `stop` is set (or `idle_exit` seconds pass quietly)."""

    d = config.distributed
    keys = Keys(d.key_prefix)
    if idle_exit is not None:
        block_ms = max(10, min(block_ms, int(idle_exit * 1000)))
    consumer = consumer or f"writer-{os.uname().nodename}"
    lock = _Lock(client, keys, consumer, max(30.0, d.claim_idle.total_seconds()))
    lock.acquire()
    _ensure_group(client, keys)
    db = store.connect(db_path)
    out = IngestSummary()
    try:
        with crawl_run(db, "ingest", stop=stop) as run:
            out.crawl_id = run.id
            writer = CheckWriter(db, config, crawl_id=out.crawl_id, batch=10**9)
            recorder = Recorder(db, config)
            claim_ms = int(d.claim_idle.total_seconds() * 1000)
            unattributed = True  # also what a writer that died before its ASN stage left
            quiet_since = time.monotonic()
            own_pending = True  # first read what this consumer left unacknowledged
            next_claim = 0.0
            completed = False
            try:
                while not (stop is not None and stop.is_set()):
                    lock.renew()
                    entries: list[tuple[Any, dict]] = []
                    if own_pending:
                        got = client.xreadgroup(
                            GROUP, consumer, {keys.items: "0"}, count=d.ingest_batch
                        )
                        entries = got[0][1] if got else []
                        own_pending = bool(entries)
                        out.reclaimed += len(entries)
                    if not entries and time.monotonic() >= next_claim:
                        entries = _claim(client, keys, consumer, claim_ms, d.ingest_batch)
                        out.reclaimed += len(entries)
                        next_claim = time.monotonic() + max(1.0, claim_ms / 2000)
                    if not entries:
                        got = client.xreadgroup(
                            GROUP, consumer, {keys.items: ">"}, count=d.ingest_batch, block=block_ms
                        )
                        entries = got[0][1] if got else []
                    if entries:
                        await _store(entries, writer, recorder, out, reschedule, db)
                        ids = [e[0] for e in entries]
                        client.xack(keys.items, GROUP, *ids)
                        client.xdel(keys.items, *ids)
                        unattributed = True
                        quiet_since = time.monotonic()
                        if on_batch:
                            on_batch(out)
                        continue
                    if unattributed and resolve_asn:
                        out.asn_resolved += await _attribute(db, config)
                        unattributed = False
                    if idle_exit is not None and time.monotonic() - quiet_since >= idle_exit:
                        if not client.xpending(keys.items, GROUP)["pending"]:
                            break
                        next_claim = 0.0  # a dead writer's entries: wait until claimable
                    await asyncio.sleep(0)
                completed = True
            finally:
                if completed and unattributed and resolve_asn:
                    out.asn_resolved += await _attribute(db, config)
                run.planned, run.done = out.entries, out.checks
                out.seconds = run.seconds
    finally:
        db.conn.close()
        lock.release()
    return out


def _claim(
    client: Any, keys: Keys, consumer: str, min_idle_ms: int, count: int
) -> list[tuple[Any, dict]]:
    """Entries another (dead) consumer read but never acknowledged."""
    result = client.xautoclaim(keys.items, GROUP, consumer, min_idle_ms, "0-0", count=count)
    return [e for e in result[1] if e and e[1] is not None]


async def _store(
    entries: list[tuple[Any, dict]],
    writer: Any,
    recorder: Any,
    out: IngestSummary,
    reschedule: Callable,
    db: Any,
) -> None:
    scanned: list[int] = []
    images: list[Any] = []  # matched as one batch (Recorder.observe_many)
    videos: list[Any] = []  # likewise (Recorder.observe_videos)
    for _id, fields in entries:
        kind, item = decode_item(fields)
        out.entries += 1
        out.types[kind] = out.types.get(kind, 0) + 1
        if kind == "CheckItem":
            writer.add_check(item)
        elif kind == "PlaceholderItem":
            writer.add_placeholder(item)
            out.placeholders += 1
        elif kind == "SeenImage":
            out.images += 1
            images.append(item)
        elif kind == "SeenVideo":
            out.videos += 1
            videos.append(item)
        elif kind == "ScanDone":
            scanned.append(int(item.source_id))
        else:
            out.unknown += 1
    if images:
        out.reuploads += (await recorder.observe_many(images)).recorded
    if videos:
        out.reuploads += (await recorder.observe_videos(videos)).recorded
    out.checks += writer.flush()
    if scanned:
        reschedule(db, sorted(set(scanned)))
        out.scans += len(scanned)


async def _attribute(db: Any, config: Config) -> int:
    return await attribute_new_checks(db, config)
