"""Backends that answer "which prefix and origin ASNs for this IP" and "what is this AS's name".

`DnsBackend` asks Team Cymru's DNS service (or any server speaking its format) through
dnspython's async resolver: bounded concurrency, retries on timeout/SERVFAIL, NXDOMAIN read as
"not announced", malformed TXT logged with its text and skipped, and a circuit breaker so a dead
resolver costs a few timeouts, not one per IP. `RoutingTableBackend` is the optional offline
alternative: a local "prefix asn" routing-table file (pyasn's ipasn format), no network at all.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Final, Protocol

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from monitor.attribution.records import (
    IPAddress,
    MalformedRecord,
    OriginRecord,
    PrefixTable,
    asname_name,
    origin_name,
    parse_asname,
    parse_origin,
)
from monitor.core.config import AsnConfig

log = logging.getLogger("monitor.attribution.asn")


class _NotAnnounced:
    def __repr__(self) -> str:
        return "NOT_ANNOUNCED"


NOT_ANNOUNCED: Final = _NotAnnounced()
"""An origin answer: no announced prefix contains the address (Cymru: NXDOMAIN)."""

Origin = OriginRecord | _NotAnnounced | None
"""An origin answer: the record, NOT_ANNOUNCED, or None (failed: timeout, SERVFAIL, malformed)."""


@dataclass(frozen=True)
class AsName:
    name: str | None
    country: str | None


class Backend(Protocol):
    queries: int  # questions sent so far
    cacheable: bool  # answers go through the asn_cache / asn_names tables

    async def origin(self, address: IPAddress) -> Origin: ...

    async def as_name(self, asn: int) -> AsName | None: ...


class _Failed(Exception):
    pass


def parse_nameserver(text: str) -> tuple[str, int]:
    """`"127.0.0.1:5353"`, `"[::1]:5353"`, `"::1"` or `"10.0.0.1"` -> (address, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, 53


def make_resolver(config: AsnConfig) -> dns.asyncresolver.Resolver:
    """The async resolver of `config`: its nameservers, else the system's. No dnspython cache."""
    if config.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(*parse_nameserver(ns)) for ns in config.nameservers
        ]
    else:
        resolver = dns.asyncresolver.Resolver()
    seconds = max(config.timeout.total_seconds(), 0.01)
    resolver.timeout = seconds
    resolver.lifetime = seconds
    resolver.cache = None
    return resolver


class DnsBackend:
    """Team Cymru over DNS. One instance per batch (it counts queries and failures)."""

    cacheable = True

    def __init__(self, config: AsnConfig, *, attempts: int = 2, breaker: int = 8) -> None:
        self.config = config
        self.resolver = make_resolver(config)
        self.attempts = max(1, attempts)
        self.breaker = breaker
        self.queries = 0
        self.failures_in_row = 0
        self._gate = asyncio.Semaphore(max(1, config.concurrency))

    @property
    def broken(self) -> bool:
        """Too many failures in a row: give up on this batch (retried on the next one)."""
        return self.failures_in_row >= self.breaker

    async def _txt(self, name: str) -> list[str] | None:
        """The TXT strings at `name`; None for NXDOMAIN; raises _Failed after the retries."""
        for _ in range(self.attempts):
            if self.broken:
                break
            async with self._gate:
                self.queries += 1
                try:
                    answer = await self.resolver.resolve(name, "TXT", raise_on_no_answer=False)
                except dns.resolver.NXDOMAIN:
                    self.failures_in_row = 0
                    return None
                except (
                    dns.exception.Timeout,
                    dns.resolver.NoNameservers,
                    dns.resolver.NoAnswer,
                    OSError,
                ) as exc:
                    self.failures_in_row += 1
                    log.info("DNS %s failed: %s", name, type(exc).__name__)
                    continue
            self.failures_in_row = 0
            return [b"".join(rd.strings).decode("utf-8", "replace") for rd in (answer.rrset or [])]
        raise _Failed(name)

    async def origin(self, address: IPAddress) -> Origin:
        name = origin_name(address, self.config.origin_zone, self.config.origin6_zone)
        try:
            texts = await self._txt(name)
        except _Failed:
            return None
        if not texts:  # NXDOMAIN, or an empty answer: nothing announced
            return NOT_ANNOUNCED
        records = []
        for text in texts:
            try:
                records.append(parse_origin(text, address))
            except MalformedRecord as exc:
                log.warning("skipping malformed origin TXT for %s: %s", address, exc)
        if not records:
            return None
        return max(records, key=lambda r: int(r.prefix.rsplit("/", 1)[1]))

    async def as_name(self, asn: int) -> AsName | None:
        try:
            texts = await self._txt(asname_name(asn, self.config.asname_zone))
        except _Failed:
            return None
        for text in texts or []:
            try:
                record = parse_asname(text, asn)
            except MalformedRecord as exc:
                log.warning("skipping malformed AS-name TXT for AS%s: %s", asn, exc)
                continue
            return AsName(record.name, record.country)
        return AsName(None, None) if texts is None else None


class RoutingTableBackend:
    """Offline: longest-prefix match in a routing-table file; no AS names (hosters fall back to
    "AS<n>"). File lines: `prefix<whitespace>asn[ asn...]` or pyasn's `prefix<TAB>asn`; `;`/`#`
    start comments; `{64500,64501}` AS sets are read as several origins."""

    cacheable = False

    def __init__(self, table: PrefixTable[OriginRecord]) -> None:
        self.table = table
        self.queries = 0

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RoutingTableBackend:
        table: PrefixTable[OriginRecord] = PrefixTable()
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.split("#", 1)[0].split(";", 1)[0].strip()
                if not line:
                    continue
                prefix, _, rest = line.replace("\t", " ").partition(" ")
                asns = rest.replace("{", " ").replace("}", " ").replace(",", " ").split()
                try:
                    record = parse_origin(f"{' '.join(asns)} | {prefix.strip()}")
                except MalformedRecord:
                    log.warning("%s:%d: skipping unreadable routing-table line", path, number)
                    continue
                table.add(record.prefix, record)
        return cls(table)

    async def origin(self, address: IPAddress) -> Origin:
        found = self.table.match(address)
        return found[1] if found else NOT_ANNOUNCED

    async def as_name(self, asn: int) -> AsName | None:
        return AsName(None, None)
