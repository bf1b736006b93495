"""The Scrapy side: the recheck and watch spiders, their Redis-fed subclasses, pipelines (the
writer a runner passes in; re-upload matching), middlewares (the SSRF guard, one deadline per
check) and settings. Content is fetched into memory, hashed and dropped.

May import: monitor's middle packages (reuploads, alerts, attribution, intake, distributed),
monitor.store, monitor.core, hashes, reports; never monitor.runners or monitor.cli.
"""
