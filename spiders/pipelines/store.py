"""Item pipeline: hands each observation to the writer the runner gave the spider.

The runner passes a `spiders.items.Writer` to the spider explicitly (`writer=`): in process the
SQLite writer (monitor.runners.writer.CheckWriter), in distributed workers the Redis stream
(spiders.pipelines.stream.StreamWriter). A spider given no writer (the in-process watch spider,
whose images go to the re-upload pipeline) passes its items on untouched. Closing the spider
flushes the writer and copies its counts into the crawl's stats; the runner closes it.
"""

from __future__ import annotations

from typing import Any

from spiders.items import CheckItem


class WriterPipeline:
    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @property
    def writer(self) -> Any:
        return getattr(self.crawler.spider, "writer", None)

    def process_item(self, item: Any) -> Any:
        if self.writer is not None:
            self.writer.add(item)
            if isinstance(item, CheckItem):
                self.crawler.stats.inc_value("monitor/checks")
        return item

    def close_spider(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            for key, value in self.writer.counts().items():
                self.crawler.stats.set_value(key, value)
