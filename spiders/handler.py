"""Scrapy's aiohttp download handler, connecting through our resolver (spiders.resolver).

Scrapy 2.19's reactorless mode downloads with aiohttp; its handler builds the connector with
aiohttp's default resolver. We build the same session with our resolver instead, so a name is
looked up once per TTL, IPv6 answers are used, and the address connected to is the one the
network guard approved. The peer's address is parsed once per address rather than once per
response (a watch scan fetches thousands of images from one server). Each download first
starts or applies its check's deadline (spiders.deadline.clamp). A response declaring a video
that is read as a prefix is bounded by the prefix (spiders.video_prefix). Everything else is
Scrapy's handler unchanged.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import aiohttp
from scrapy.core.downloader.handlers._aiohttp import AiohttpDownloadHandler, _ClientResponse
from scrapy.core.downloader.handlers._base_streaming import (
    BaseStreamingDownloadHandler,
    _BaseResponseArgs,
)
from scrapy.http import Headers, Request, Response
from scrapy.utils.ssl import _make_ssl_context

from spiders.deadline import clamp
from spiders.resolver import resolver_for
from spiders.video_prefix import start_response


class GuardedAiohttpHandler(AiohttpDownloadHandler):
    experimental = False  # the parent's "experimental" warning is noise in every crawl log

    def __init__(self, crawler) -> None:
        BaseStreamingDownloadHandler.__init__(self, crawler)
        self._ssl_context = _make_ssl_context(crawler.settings)
        connector = aiohttp.TCPConnector(
            local_addr=self._bind_address,
            limit=self._pool_size_total,
            limit_per_host=self._pool_size_per_host,
            resolver=resolver_for(crawler),
            use_dns_cache=False,  # the resolver caches
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            response_class=_ClientResponse,
            skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type", "User-Agent"),
        )

    async def download_request(self, request: Request):
        clamp(request)  # a check's one overall deadline (spiders.deadline)
        return await super().download_request(request)

    async def _read_response(self, response: _ClientResponse, request: Request) -> Response:
        """A video read as a prefix is bounded by its prefix, not by max_download_bytes
        (spiders.video_prefix: lifted only for an uncompressed response declaring a video)."""
        start_response(self._extract_headers(response), request, self._default_maxsize)
        return await super()._read_response(response, request)

    @staticmethod
    def _build_base_response_args(
        response: _ClientResponse, request: Request, headers: Headers
    ) -> _BaseResponseArgs:
        version = response.version
        assert response._peername is not None
        ssl_object = response._ssl_object
        return {
            "status": response.status,
            "url": request.url,
            "headers": headers,
            "certificate": (
                ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            ),
            "ip_address": _address(response._peername[0]),
            "protocol": f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1",
        }


@lru_cache(maxsize=4096)
def _address(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(peer)
