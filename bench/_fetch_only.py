"""Baseline spiders for bench_crawl.py: fetch each URL, keep only its status code (SQLite).

`plain`: Scrapy with default settings (Twisted reactor, default concurrency, logging at DEBUG
filtered to ERROR output). `tuned`: the same spider with reasonable tuning (reactorless asyncio,
higher concurrency, no telnet, no cookies, no retries, CONCURRENT_ITEMS=1).
Prints `urls seconds` on stdout.
"""

import sqlite3
import sys
import time

import scrapy
from scrapy.crawler import CrawlerProcess


class FetchOnly(scrapy.Spider):
    name = "fetch_only"

    def __init__(self, urls_file: str, **kwargs):
        super().__init__(**kwargs)
        self.urls_file = urls_file
        self.rows: list[tuple[str, int]] = []

    async def start(self):
        with open(self.urls_file) as fh:
            for line in fh:
                yield scrapy.Request(
                    line.strip(), callback=self.parse, errback=self.failed, dont_filter=True
                )

    def parse(self, response):
        self.rows.append((response.url, response.status))

    def failed(self, failure):
        self.rows.append((failure.request.url, 0))

    def closed(self, reason):
        db = sqlite3.connect(self.settings.get("OUT_DB"))
        db.execute("CREATE TABLE IF NOT EXISTS s (url TEXT, status INTEGER)")
        db.executemany("INSERT INTO s VALUES (?, ?)", self.rows)
        db.commit()


def main() -> None:
    mode, urls_file, out_db = sys.argv[1:4]
    settings = {
        "LOG_LEVEL": "ERROR",
        "OUT_DB": out_db,
        "HTTPERROR_ALLOW_ALL": True,
        "ROBOTSTXT_OBEY": False,
        "REMOTE_CONTROL_ENABLED": False,
    }
    if mode == "tuned":
        settings.update(
            {
                "TWISTED_REACTOR_ENABLED": False,
                "CONCURRENT_REQUESTS": 64,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
                "COOKIES_ENABLED": False,
                "RETRY_ENABLED": False,
                "TELNETCONSOLE_ENABLED": False,
                "CONCURRENT_ITEMS": 1,
                "REDIRECT_ENABLED": True,
                "WARN_ON_GENERATOR_RETURN_VALUE": False,
            }
        )
    started = time.perf_counter()
    if mode == "tuned":
        import asyncio

        from scrapy.crawler import AsyncCrawlerRunner

        async def run() -> None:
            await AsyncCrawlerRunner(settings).crawl(FetchOnly, urls_file=urls_file)

        asyncio.run(run())
    else:
        process = CrawlerProcess(settings)
        process.crawl(FetchOnly, urls_file=urls_file)
        process.start()
    elapsed = time.perf_counter() - started
    count = sqlite3.connect(out_db).execute("SELECT COUNT(*) FROM s").fetchone()[0]
    print(count, elapsed)


if __name__ == "__main__":
    main()
