"""The jobs: a recheck crawl, watch scans, the unattended loop, the writer that stores
observations, and distributed mode's enqueuer, worker and ingest. They drive the spiders and
the Scrapy engine; one crawl-run context (monitor.runners.run) keeps their bookkeeping.

May import: spiders, monitor.reuploads, monitor.attribution, monitor.alerts, monitor.intake,
monitor.distributed, monitor.store, monitor.core, hashes, reports.
"""
