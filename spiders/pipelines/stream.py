"""The writer of distributed workers: every observation goes to the Redis stream that the
single writer (`ntd-monitor ingest`) stores into SQLite.

Items are frozen records of hashes and HTTP facts only (never content), added one XADD each
(a page's batch of seen images as one XADD per image, sent together), so a worker killed after
an XADD loses nothing it reported; a placeholder learned by one worker
is also shared with the others through a Redis hash.
"""

from __future__ import annotations

from typing import Any

from monitor.distributed.conn import connect
from monitor.distributed.keys import Keys, encode_item
from spiders.items import PlaceholderItem, SeenImages, SeenVideos


class StreamWriter:
    """The writer of a distributed worker's spiders (a spiders.items.Writer): one XADD per
    observation (a page's seen images as one XADD per image, sent together)."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.added = 0

    @classmethod
    def connect(cls, redis_url: str, key_prefix: str) -> StreamWriter:
        return cls(connect(redis_url), Keys(key_prefix))

    def add(self, item: Any) -> None:
        if isinstance(item, PlaceholderItem):
            self.client.hset(self.keys.placeholders, item.host, item.hash)
        if isinstance(item, SeenImages | SeenVideos):  # one entry each: the wire format stays
            each = item.images if isinstance(item, SeenImages) else item.videos
            with self.client.pipeline(transaction=False) as pipe:
                for one in each:
                    pipe.xadd(self.keys.items, encode_item(one))
                pipe.execute()
            self.added += len(each)
        else:
            self.client.xadd(self.keys.items, encode_item(item))
            self.added += 1

    def flush(self) -> None:
        """Nothing is held back: every add() was sent."""

    def counts(self) -> dict[str, int]:
        return {"monitor/stream/added": self.added}

    def close(self) -> None:
        self.client.close()
