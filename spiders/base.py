"""What every ntd-monitor spider shares: a hasher whose worker processes end with the spider,
and the politeness key that names a request's download slot."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

import scrapy
import tldextract
from scrapy import signals

from spiders import video_prefix
from spiders.hashing import Hasher

_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # bundled list, no fetch


def slot_for(url: str, asn: int | None) -> str:
    """Politeness key: the ASN once known, else the registrable domain (or the IP)."""
    if asn:
        return f"as{asn}"
    _, sep, rest = url.partition("://")
    return _slot_of_netloc(rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0] if sep else "")


@lru_cache(maxsize=65536)
def _slot_of_netloc(netloc: str) -> str:
    """A netloc's registrable domain (or its host): looked up once per netloc, not per
    request (a watch scan asks for every image)."""
    host = urlsplit(f"//{netloc}").hostname or ""
    return _extract(host).top_domain_under_public_suffix or host


class HashingSpider(scrapy.Spider):
    """A spider that hashes fetched bytes in memory through `self.hasher`."""

    hasher: Hasher

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._close_hasher, signal=signals.spider_closed)
        video_prefix.connect(crawler)  # a video's body is cut at its prefix
        return spider

    def _close_hasher(self) -> None:
        self.hasher.close()
        cpu = self.hasher.cpu_seconds()
        if cpu is not None:  # what hashing cost (bench/bench_watch.py sets it against images)
            self.crawler.stats.set_value("monitor/hashing/cpu_ms", round(cpu * 1e3, 1))
