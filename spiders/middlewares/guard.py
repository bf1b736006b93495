"""The network guard: no request leaves for an address that is not globally reachable
(monitor.core.netguard: the IANA special-purpose registries, embedded IPv4 forms included) unless
`[crawl].allow_networks` names its network (tests, the demo and benchmarks name their loopback
addresses; link-local never).

It runs for every request, redirects included (a redirect is a new request through the
downloader middlewares), resolving names through the crawl's shared resolver before anything is
sent; the handler then connects to the same cached answer. A refused or unresolvable target
fails the request with an exception the spider's errback classifies (NXDOMAIN -> dns_gone).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy import Request

from spiders.resolver import resolver_for


class NetworkGuardMiddleware:
    def __init__(self, crawler) -> None:
        self.resolver = resolver_for(crawler)
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        host = urlsplit(request.url).hostname
        if not host:
            return None
        try:
            addresses = await self.resolver.addresses(host)
        except OSError as exc:
            self.stats.inc_value(f"monitor/guard/{type(exc).__name__}")
            raise
        request.meta["ntd_addresses"] = addresses
        return None
