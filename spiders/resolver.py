"""Name resolution for the crawl: caching, IPv6-capable, and the network guard's first gate.

One `Resolver` per crawl, shared by the guard middleware (which resolves before a request is
sent, so it can refuse private targets and tell NXDOMAIN apart) and the aiohttp download handler
(which then connects to exactly the cached answer: no second lookup that could differ).
Nameservers may be given (`host:port`, e.g. the simulated world's DNS); otherwise the system
resolver answers. A and AAAA records are both used, asked for at once.

Which addresses may be reached is monitor.core.netguard's decision ([crawl] allow_networks opens
named non-public networks). Every lookup is bounded in total (all record types, retries and
nameservers together) by the resolver's timeout: min(DNS_TIMEOUT, DOWNLOAD_TIMEOUT), so a
silent nameserver costs one download timeout, not minutes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.core.config_forms import parse_nameserver
from monitor.core.netguard import NetworkRefused, refusal

CACHE_SECONDS = 300.0


class NameNotFound(OSError):
    """NXDOMAIN: the name does not exist (the check's outcome is dns_gone)."""


class NameLookupFailed(OSError):
    """The lookup failed without a definite answer (SERVFAIL, timeout)."""


class TargetRefused(NetworkRefused, OSError):
    """The target address may not be reached (monitor.core.netguard says why)."""


@dataclass(frozen=True)
class Answer:
    addresses: tuple[str, ...]
    expires: float
    allowed: tuple[str, ...] = ()  # the reachable ones among them, classified once per lookup
    refusal: str = ""  # why the first address is refused, when none is allowed


def is_public(address: str) -> bool:
    """Whether `address` may be reached with no allow list (monitor.core.netguard.refusal)."""
    return refusal(address) is None


def check_target(address: str, allow_networks: tuple[str, ...] = ()) -> None:
    reason = refusal(address, allow_networks)
    if reason is not None:
        raise TargetRefused(f"refused non-public address {address}: {reason}")


class Resolver(AbstractResolver):
    def __init__(
        self,
        nameservers: list[str] | tuple[str, ...] = (),
        *,
        allow_networks: list[str] | tuple[str, ...] = (),
        timeout: float = 5.0,
    ) -> None:
        self.allow_networks = tuple(allow_networks)
        self._cache: dict[str, Answer] = {}
        self._literals: dict[str, tuple[str, ...]] = {}  # IP literals the guard allowed
        self._inflight: dict[str, asyncio.Future[Answer]] = {}
        self._dns: dns.asyncresolver.Resolver | None = None
        self._timeout = max(float(timeout), 0.001)
        if nameservers:
            self._dns = dns.asyncresolver.Resolver(configure=False)
            self._dns.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(ns)) for ns in nameservers
            ]
            self._dns.timeout = min(2.0, self._timeout)  # one try at one nameserver
            self._dns.lifetime = self._timeout  # all tries together
            self._dns.cache = None  # ours caches (and bounds its size)

    def _answer(self, addresses: tuple[str, ...], expires: float) -> Answer:
        allowed = tuple(a for a in addresses if refusal(a, self.allow_networks) is None)
        reason = "" if allowed else (refusal(addresses[0], self.allow_networks) or "")
        return Answer(addresses, expires, allowed, reason)

    async def addresses(self, host: str) -> tuple[str, ...]:
        """All addresses of `host` (cached); raises NameNotFound, NameLookupFailed or
        TargetRefused (when every address is non-public and that is not allowed)."""
        known = self._literals.get(host)
        if known is not None:
            return known
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            check_target(host, self.allow_networks)
            if len(self._literals) < 100_000:  # an allowed IP literal stays allowed
                self._literals[host] = (host,)
            return (host,)
        key = host.lower().rstrip(".")
        cached = self._cache.get(key)
        if cached and cached.expires > time.monotonic():
            return self._allowed(cached)
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(key))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _f: self._inflight.pop(key, None))
        answer = await asyncio.shield(pending)
        self._cache[key] = answer
        return self._allowed(answer)

    def _allowed(self, answer: Answer) -> tuple[str, ...]:
        if not answer.allowed:
            raise TargetRefused(
                f"refused non-public address {answer.addresses[0]}: {answer.refusal}"
            )
        return answer.allowed

    async def _lookup(self, host: str) -> Answer:
        if self._dns is None:
            return await self._system(host)
        try:
            async with asyncio.timeout(self._timeout):  # the whole lookup, both types
                results = await asyncio.gather(
                    self._query(host, "A"), self._query(host, "AAAA"), return_exceptions=True
                )
        except TimeoutError:
            raise NameLookupFailed(f"DNS lookup of {host} timed out") from None
        found = [a for r in results if isinstance(r, tuple) for a in r]
        if any(isinstance(r, dns.resolver.NXDOMAIN) for r in results):
            raise NameNotFound(f"{host}: NXDOMAIN")
        if found:
            return self._answer(tuple(found), time.monotonic() + CACHE_SECONDS)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise NameLookupFailed(f"DNS lookup of {host} failed: {type(failed[0]).__name__}")
        raise NameLookupFailed(f"{host}: no A or AAAA record")

    async def _query(self, host: str, rdtype: str) -> tuple[str, ...]:
        """The records of one type (empty when there are none); raises NXDOMAIN or a failure."""
        assert self._dns is not None
        try:
            answer = await self._dns.resolve(host, rdtype, lifetime=self._timeout)
        except dns.resolver.NoAnswer:
            return ()
        except (dns.exception.DNSException, OSError) as exc:
            if isinstance(exc, dns.resolver.NXDOMAIN):
                raise
            raise NameLookupFailed(f"{type(exc).__name__}") from None
        return tuple(r.to_text() for r in answer)

    async def _system(self, host: str) -> Answer:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), self._timeout
            )
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                raise NameNotFound(f"{host}: NXDOMAIN") from None
            raise NameLookupFailed(f"DNS lookup of {host} failed: {exc.strerror}") from None
        except TimeoutError:
            raise NameLookupFailed(f"DNS lookup of {host} timed out") from None
        addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise NameLookupFailed(f"{host}: no address")
        return self._answer(addresses, time.monotonic() + CACHE_SECONDS)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await self.addresses(host):
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (socket.AF_UNSPEC, fam):
                continue
            results.append(
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=port,
                    family=fam,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        if not results:
            raise NameLookupFailed(f"{host}: no address of the requested family")
        return results

    async def close(self) -> None:
        self._cache.clear()
        self._literals.clear()


def resolver_for(crawler) -> Resolver:
    """The crawl's one resolver, created on first use from the crawler's settings."""
    existing = getattr(crawler, "_ntd_resolver", None)
    if existing is None:
        settings = crawler.settings
        timeout = min(
            settings.getfloat("DNS_TIMEOUT", 60.0) or 60.0,
            settings.getfloat("DOWNLOAD_TIMEOUT", 180.0) or 180.0,
        )
        existing = Resolver(
            settings.getlist("NTD_NAMESERVERS"),
            allow_networks=tuple(settings.getlist("NTD_ALLOW_NETWORKS")),
            timeout=timeout,
        )
        crawler._ntd_resolver = existing
    return existing
