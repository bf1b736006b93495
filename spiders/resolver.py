"""Name resolution for the crawl: caching, IPv6-capable, and the network guard's first gate.

One `Resolver` per crawl, shared by the guard middleware (which resolves before a request is
sent, so it can refuse private targets and tell NXDOMAIN apart) and the aiohttp download handler
(which then connects to exactly the cached answer: no second lookup that could differ).
Nameservers may be given (`host:port`, e.g. the simulated world's DNS); otherwise the system
resolver answers. A and AAAA records are both used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver
from aiohttp.abc import AbstractResolver, ResolveResult

CACHE_SECONDS = 300.0


class NameNotFound(OSError):
    """NXDOMAIN: the name does not exist (the check's outcome is dns_gone)."""


class NameLookupFailed(OSError):
    """The lookup failed without a definite answer (SERVFAIL, timeout)."""


class TargetRefused(OSError):
    """The target address is private, loopback, link-local or multicast."""


@dataclass(frozen=True)
class Answer:
    addresses: tuple[str, ...]
    expires: float
    public: tuple[str, ...] = ()      # the public ones among them, classified once per lookup

    @classmethod
    def of(cls, addresses: tuple[str, ...], expires: float) -> Answer:
        return cls(addresses, expires, tuple(a for a in addresses if is_public(a)))


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified)


def check_target(address: str, allow_private: bool) -> None:
    if not allow_private and not is_public(address):
        raise TargetRefused(f"refused non-public address {address}")


class Resolver(AbstractResolver):
    def __init__(self, nameservers: list[str] | tuple[str, ...] = (), *,
                 allow_private: bool = False, timeout: float = 5.0) -> None:
        self.allow_private = allow_private
        self._cache: dict[str, Answer] = {}
        self._literals: dict[str, tuple[str, ...]] = {}  # IP literals the guard allowed
        self._inflight: dict[str, asyncio.Future[Answer]] = {}
        self._dns: dns.asyncresolver.Resolver | None = None
        if nameservers:
            self._dns = dns.asyncresolver.Resolver(configure=False)
            self._dns.nameservers = [ns.rsplit(":", 1)[0].strip("[]") for ns in nameservers]
            ports = {int(ns.rsplit(":", 1)[1]) for ns in nameservers if ":" in ns}
            self._dns.port = ports.pop() if ports else 53
            self._dns.lifetime = timeout
        self._timeout = timeout

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
            check_target(host, self.allow_private)
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
        if self.allow_private:
            return answer.addresses
        if not answer.public:
            raise TargetRefused(f"refused non-public address {answer.addresses[0]}")
        return answer.public

    async def _lookup(self, host: str) -> Answer:
        if self._dns is None:
            return await self._system(host)
        found: list[str] = []
        nx = 0
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._dns.resolve(host, rdtype)
                found.extend(r.to_text() for r in answer)
            except dns.resolver.NXDOMAIN:
                nx += 1
            except dns.resolver.NoAnswer:
                continue
            except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
                raise NameLookupFailed(f"DNS lookup of {host} failed: {type(exc).__name__}") \
                    from None
        if nx:
            raise NameNotFound(f"{host}: NXDOMAIN")
        if not found:
            raise NameLookupFailed(f"{host}: no A or AAAA record")
        return Answer.of(tuple(found), time.monotonic() + CACHE_SECONDS)

    async def _system(self, host: str) -> Answer:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), self._timeout)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                raise NameNotFound(f"{host}: NXDOMAIN") from None
            raise NameLookupFailed(f"DNS lookup of {host} failed: {exc.strerror}") from None
        except TimeoutError:
            raise NameLookupFailed(f"DNS lookup of {host} timed out") from None
        addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
        return Answer.of(addresses, time.monotonic() + CACHE_SECONDS)

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await self.addresses(host):
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (socket.AF_UNSPEC, fam):
                continue
            results.append(ResolveResult(hostname=host, host=address, port=port, family=fam,
                                         proto=0, flags=socket.AI_NUMERICHOST))
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
        existing = Resolver(settings.getlist("NTD_NAMESERVERS"),
                            allow_private=settings.getbool("NTD_ALLOW_PRIVATE_NETWORKS"),
                            timeout=settings.getfloat("DNS_TIMEOUT", 5.0) or 5.0)
        crawler._ntd_resolver = existing
    return existing
