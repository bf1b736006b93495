"""Redis key layout and the wire format of distributed mode (pure: no I/O).

Keys (prefix from [distributed] key_prefix, default "ntd"):
  {p}:partitions:{kind}           SET of partition names with a queue (kind: recheck | watch)
  {p}:q:{kind}:{partition}        LIST of JSON work messages for one hoster (LPUSH / RPOP)
  {p}:lease:{kind}:{partition}    the worker holding that queue (SET NX PX; renewed)
  {p}:sent:{kind}:{key}           a dispatched unit not yet stored (EX requeue_after)
  {p}:workers                     ZSET worker name -> last heartbeat (ms)
  {p}:items                       STREAM of observations, read by the consumer group "ingest"
  {p}:ingest:lock                 the single writer's lock
  {p}:placeholders                HASH host -> pHash of its "not found" image (shared by workers)

Items travel as {"type": <class name>, "data": <JSON of the dataclass>}; the writer side
decodes them into attribute records (SimpleNamespace) so monitor/ never imports spiders/.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from monitor.store.due import DueCheck

GROUP = "ingest"


@dataclass(frozen=True)
class Keys:
    prefix: str = "ntd"

    def partitions(self, kind: str) -> str:
        return f"{self.prefix}:partitions:{kind}"

    def queue(self, kind: str, partition: str) -> str:
        return f"{self.prefix}:q:{kind}:{partition}"

    def lease(self, kind: str, partition: str) -> str:
        return f"{self.prefix}:lease:{kind}:{partition}"

    def sent(self, kind: str, key: str) -> str:
        return f"{self.prefix}:sent:{kind}:{key}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def items(self) -> str:
        return f"{self.prefix}:items"

    @property
    def ingest_lock(self) -> str:
        return f"{self.prefix}:ingest:lock"

    @property
    def placeholders(self) -> str:
        return f"{self.prefix}:placeholders"

    def scheduler_queue(self, spider: str, worker: str) -> str:
        """scrapy-redis's request queue of one worker (its in-flight window)."""
        return f"{self.prefix}:sched:{spider}:{worker}"

    def scheduler_dupefilter(self, spider: str, worker: str) -> str:
        return f"{self.prefix}:dupe:{spider}:{worker}"


def partition_of(check: DueCheck) -> str:
    """Politeness partition: the attributed hoster, else the origin AS, else the host name."""
    if check.hoster:
        return check.hoster
    if check.asn:
        return f"as{check.asn}"

    return urlsplit(check.url).hostname or "unknown"


def check_message(check: DueCheck) -> str:
    return json.dumps(
        {
            "report_id": check.report_id,
            "url": check.url,
            "due_at": check.due_at,
            "baseline": [list(b) for b in check.baseline],
            "asn": check.asn,
        },
        separators=(",", ":"),
    )


def parse_check(message: str | bytes) -> DueCheck:
    data = json.loads(message)
    return DueCheck(
        int(data["report_id"]),
        data["url"],
        data["due_at"],
        tuple((a, h) for a, h in data.get("baseline") or ()),
        data.get("asn"),
    )


def watch_message(source_id: int, url: str, depth: int, max_pages: int) -> str:
    return json.dumps(
        {"source_id": source_id, "url": url, "depth": depth, "max_pages": max_pages},
        separators=(",", ":"),
    )


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def encode_item(item: Any) -> dict[str, str]:
    """A frozen dataclass item as stream entry fields."""
    return {
        "type": type(item).__name__,
        "data": json.dumps(dataclasses.asdict(item), separators=(",", ":")),
    }


def decode_item(fields: dict[Any, Any]) -> tuple[str, SimpleNamespace]:
    """(type name, record with the item's attributes; lists become tuples)."""

    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else v

    fields = {text(k): text(v) for k, v in fields.items()}
    data = json.loads(fields["data"])
    return fields["type"], SimpleNamespace(**{k: _tuples(v) for k, v in data.items()})
