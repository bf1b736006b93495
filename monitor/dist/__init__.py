"""Distributed mode on Redis: the enqueuer, the partition leases workers hold, the item
stream, and the single writer (`ingest`) that keeps SQLite the system of record.

Flow: `crawl --redis URL --enqueue` pushes due checks (and due watch scans) as JSON onto one
Redis list per hoster; `worker --redis URL` processes lease whole hoster queues (so per-hoster
politeness holds across workers), crawl them with Scrapy and scrapy-redis's scheduler, and add
every observation to a Redis stream; `ingest --redis URL` reads the stream through a consumer
group, writes batches into SQLite and acknowledges entries only after the commit.
"""
