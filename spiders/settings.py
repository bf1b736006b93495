"""Scrapy settings for ntd-monitor's spiders. Every setting here is deliberate.

`monitor.runners.crawl` layers the TOML config (user agent, timeouts, size limit, concurrency,
network
guard) over these at run time; these are the safe defaults for `scrapy list` / `scrapy crawl`.
"""

BOT_NAME = "ntd-monitor"
SPIDER_MODULES = ["spiders.spiders"]
NEWSPIDER_MODULE = "spiders.spiders"

# Pure asyncio, no Twisted reactor: the crawl shares one event loop with the DNS (ASN) stage and
# runs in-process under pytest-asyncio. HTTP goes through our aiohttp handler (spiders.handler),
# which resolves names with our caching, IPv6-capable resolver (spiders.resolver).
TWISTED_REACTOR_ENABLED = False
DOWNLOAD_HANDLERS = {
    "http": "spiders.handler.GuardedAiohttpHandler",
    "https": "spiders.handler.GuardedAiohttpHandler",
}

# Rechecks of URLs that a hotline reported: robots.txt does not apply to them.
ROBOTSTXT_OBEY = False
# Identify ourselves; the config's [crawl].user_agent replaces this at run time.
USER_AGENT = "ntd-monitor (+https://example.org/contact)"

# Every status reaches the spider: 404/410/451 are findings (removed), 401/403/429 are "blocked".
HTTPERROR_ALLOW_ALL = True
# No session state between checks: each check sees what an anonymous visitor sees.
COOKIES_ENABLED = False
# Follow at most 5 redirects; the chain is recorded (redirect_urls / redirect_reasons).
REDIRECT_ENABLED = True
REDIRECT_MAX_TIMES = 5
METAREFRESH_ENABLED = False

# Limits from [crawl]: download_timeout and max_download_bytes (defaults: 30 s, 20 MiB).
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024
DOWNLOAD_WARNSIZE = 0
DOWNLOAD_FAIL_ON_DATALOSS = True

# Retry transient failures only (timeouts, resets, refused connections); never retry a status:
# a 5xx or 429 is an observation we record, and the schedule decides when to look again.
RETRY_ENABLED = True
RETRY_TIMES = 1
RETRY_HTTP_CODES: list[int] = []

# Nothing fetched is ever stored: no HTTP cache, no files/images pipelines, no feed exports.
HTTPCACHE_ENABLED = False
ITEM_PIPELINES = {
    "spiders.pipelines.store.WriterPipeline": 300,
    "spiders.pipelines.reuploads.ReuploadPipeline": 400,
}
FEEDS: dict = {}

# No remote access to a running crawl: the telnet console and Scrapy 2.19's remote-control
# extension (which can execute code) stay off.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

# Measured to cost CPU per URL: we emit one item per response, and our callbacks return nothing.
CONCURRENT_ITEMS = 1
WARN_ON_GENERATOR_RETURN_VALUE = False

# Politeness per hoster: each request names its download slot (registrable domain, or the ASN
# once known: see spiders.spiders.recheck), with [crawl].per_hoster_concurrency per slot, and
# AutoThrottle backing off a hoster that slows down.
CONCURRENT_REQUESTS = 64
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.0
AUTOTHROTTLE_MAX_DELAY = 10.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0

# The network guard: targets that are not globally reachable (monitor.core.netguard) are refused
# unless [crawl].allow_networks names their network (NTD_ALLOW_NETWORKS: tests, the demo and
# benchmarks name their loopback addresses; link-local never).
# Per-request work we do not need (each costs CPU on every URL; profiled in bench_crawl.py):
# no allowed_domains (offsite: a reported URL is checked wherever it points), no HTTP auth, and
# per-request download stats (we keep our own monitor/* counters).
DOWNLOADER_MIDDLEWARES = {
    "spiders.middlewares.guard.NetworkGuardMiddleware": 50,
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
}
DOWNLOADER_STATS = False
# Spider middlewares for link-following crawls: no Referer (an anonymous visitor sends none),
# no URL length cap (a reported URL is checked however long it is), no depth tracking (the
# watch spider bounds its own depth), no warning about copied meta keys.
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
NTD_ALLOW_NETWORKS: list[str] = []
# The overall deadline of one check, redirects and retries included ([crawl].check_deadline).
NTD_CHECK_DEADLINE = 60.0
# Watch scans keep page parsing just ahead of image fetching (spiders.page_gate): pages open at
# once per download slot and in all (0: twice CONCURRENT_REQUESTS_PER_DOMAIN, twice
# CONCURRENT_REQUESTS), and how long a page waits for room before it opens anyway.
NTD_WATCH_PAGES_PER_SLOT = 0
NTD_WATCH_OPEN_PAGES = 0
NTD_WATCH_GATE_PATIENCE = 60.0
NTD_NAMESERVERS: list[str] = []

LOG_LEVEL = "INFO"
# Bodies never go to logs: Scrapy logs requests and responses, not content, at INFO.
LOG_FORMATTER = "scrapy.logformatter.LogFormatter"
