"""Item pipeline: hands each observation to the single writer (monitor.writer.CheckWriter).

The writer batches rows into transactions; closing the spider flushes the last batch.
"""

from __future__ import annotations

from typing import Any

from monitor import store
from monitor.writer import CheckWriter
from spiders.items import CheckItem, PlaceholderItem


class CheckStorePipeline:
    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self.writer: CheckWriter | None = None
        crawler._ntd_pipeline = self

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.writer = CheckWriter(store.connect(spider.db_path), spider.config,
                                  crawl_id=spider.crawl_id)

    def process_item(self, item: Any) -> Any:
        assert self.writer is not None
        if isinstance(item, CheckItem):
            self.writer.add_check(item)
            self.crawler.stats.inc_value("monitor/checks")
        elif isinstance(item, PlaceholderItem):
            self.writer.add_placeholder(item)
        return item

    def close_spider(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.crawler.stats.set_value("monitor/written", self.writer.written)
            self.writer.db.conn.close()
