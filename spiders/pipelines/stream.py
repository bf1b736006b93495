"""Item pipeline of distributed workers: every observation goes to the Redis stream that the
single writer (`ntd-monitor ingest`) stores into SQLite.

Items are frozen records of hashes and HTTP facts only (never content), added one XADD each
(a page's batch of seen images as one XADD per image, sent together), so a worker killed after
an XADD loses nothing it reported; a placeholder learned by one worker
is also shared with the others through a Redis hash.
"""

from __future__ import annotations

from typing import Any

from monitor.dist.conn import connect
from monitor.dist.keys import Keys, encode_item
from spiders.items import CheckItem, PlaceholderItem, SeenImages


class StreamPipeline:
    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self.writer = None            # (the in-process store pipeline's attribute; none here)
        settings = crawler.settings
        self.client = connect(settings.get("REDIS_URL"))
        self.keys = Keys(settings.get("NTD_KEY_PREFIX", "ntd"))
        crawler._ntd_pipeline = self

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, PlaceholderItem):
            self.client.hset(self.keys.placeholders, item.host, item.hash)
        stats = self.crawler.stats
        if isinstance(item, SeenImages):      # one entry per image: the wire format stays
            with self.client.pipeline(transaction=False) as pipe:
                for image in item.images:
                    pipe.xadd(self.keys.items, encode_item(image))
                pipe.execute()
            stats.inc_value("monitor/stream/added", len(item.images))
            return item
        self.client.xadd(self.keys.items, encode_item(item))
        stats.inc_value("monitor/stream/added")
        if isinstance(item, CheckItem):
            stats.inc_value("monitor/checks")
        return item

    def close_spider(self) -> None:
        self.client.close()
