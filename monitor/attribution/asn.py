"""IP -> origin ASN, prefix and AS name, in batches, cached by prefix in the store.

`lookup()` resolves many IPs at once and asks as few questions as it can: an IP inside a cached
(unexpired) prefix costs nothing, and IPs are asked in waves so that an IP inside a prefix learnt
earlier in the same batch costs nothing either. The first wave asks one IP per /16 (IPv4) or /32
(IPv6) block in parallel; IPs still uncovered are asked one per finer block (/20, /24, ... for
IPv4; /40, /48, ... for IPv6) in the next wave, so a /16 of /24s costs one query per /24 while a
block covered by one big prefix costs one query in all. AS names are asked once per primary ASN
and cached in `asn_names`.

`resolve_pending()` is the stage after the fetch (and `ntd-monitor asn resolve`): it fills
`checks.asn/asns/prefix/hoster_id` for checks that have an IP but no ASN yet, and `checks.edge`
when the IP is a CDN's (monitor.attribution.cdn_attribute: such a check goes to the origin's hoster
when the
import named it, else to "CDN (origin unknown)", never to the CDN as a hoster). Checks keep what was
true when they were checked: a filled check is never rewritten. `asns = '[]'` with a NULL asn
marks an IP found not announced (so it is not asked again); asn NULL with asns NULL is pending
(a DNS failure: retried next time).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from monitor.attribution.cache import load_names, load_prefixes, store_names, store_prefixes
from monitor.attribution.cdn_attribute import EdgeAttribution
from monitor.attribution.cdn_origin import learn_origins
from monitor.attribution.dns import (
    NOT_ANNOUNCED,
    AsName,
    Backend,
    DnsBackend,
    RoutingTableBackend,
    make_resolver,
    parse_nameserver,
)
from monitor.attribution.hosters import Registry
from monitor.attribution.records import (
    AsnInfo,
    MalformedRecord,
    OriginRecord,
    PrefixTable,
    from_int,
    negative_network,
    origin_name,
    parse_asname,
    parse_origin,
    to_int,
)
from monitor.core import clock
from monitor.core.config import AsnConfig, Config
from monitor.store import summary, transaction

__all__ = [
    "AsnInfo",
    "Backend",
    "DnsBackend",
    "MalformedRecord",
    "ResolveStats",
    "RoutingTableBackend",
    "lookup",
    "make_resolver",
    "origin_name",
    "parse_asname",
    "parse_nameserver",
    "parse_origin",
    "resolve_pending",
    "resolve_pending_sync",
]

log = logging.getLogger("monitor.attribution.asn")

LEVELS = {4: (16, 20, 24, 28, 32), 6: (32, 40, 48, 56, 64, 128)}
"""Block sizes of the successive waves: one question per uncovered block per wave."""


Addr = tuple[int, int]
"""An address as (IP version, integer): cheap to hash and sort for thousands of IPs."""


async def _resolve_origins(
    addresses: Iterable[Addr], table: PrefixTable[AsnInfo], backend: Backend
) -> tuple[list[AsnInfo], set[Addr]]:
    """Learn prefixes until every address is covered by `table` or failed. Returns what was
    learnt (to cache) and the addresses that could not be resolved."""
    learnt: list[AsnInfo] = []
    failed: set[Addr] = set()
    level = dict.fromkeys(addresses, 0)
    while True:
        level = {a: n for a, n in level.items() if table.match_int(*a) is None}
        if not level:
            break
        if getattr(backend, "broken", False):
            failed.update(level)
            break
        reps: dict[tuple[int, int, int], Addr] = {}
        for addr in sorted(level):
            version, number = addr
            n = level[addr]
            shift = (32 if version == 4 else 128) - LEVELS[version][n]
            reps.setdefault((version, n, number >> shift), addr)
        asked = list(reps.values())
        answers = await asyncio.gather(*(backend.origin(from_int(*a)) for a in asked))
        for addr, answer in zip(asked, answers, strict=True):
            if answer is None:
                failed.add(addr)
                del level[addr]
            elif answer is NOT_ANNOUNCED or not isinstance(answer, OriginRecord):
                net = negative_network(from_int(*addr))
                info = AsnInfo("", None, (), str(net), announced=False)
                table.add(net, info)
                learnt.append(info)
            else:
                info = AsnInfo(
                    "",
                    answer.asns[0],
                    answer.asns,
                    answer.prefix,
                    answer.country,
                    answer.registry,
                    answer.allocated,
                )
                table.add(answer.prefix, info)
                learnt.append(info)
        for addr, n in level.items():
            level[addr] = min(n + 1, len(LEVELS[addr[0]]) - 1)
    return learnt, failed


async def _names(
    asns: set[int], db: Database | None, backend: Backend, now: datetime, config: AsnConfig
) -> dict[int, str | None]:
    names: dict[int, str | None] = {}
    if db is not None and backend.cacheable:
        names.update(load_names(db, asns, now))
    missing = sorted(asns - names.keys())
    answers = await asyncio.gather(*(backend.as_name(a) for a in missing))
    fresh: dict[int, tuple[str | None, str | None]] = {}
    for asn, answer in zip(missing, answers, strict=True):
        if isinstance(answer, AsName):
            names[asn] = answer.name
            fresh[asn] = (answer.name, answer.country)
    if db is not None and backend.cacheable:
        store_names(db, fresh, now, config.cache_ttl)
    return names


async def lookup(
    ips: Iterable[str],
    db: Database | None,
    config: AsnConfig,
    *,
    now: datetime | None = None,
    backend: Backend | None = None,
) -> dict[str, AsnInfo | None]:
    """Resolve `ips` (duplicates welcome). Value None: not resolvable now (bad IP, timeout,
    SERVFAIL, malformed answer); `AsnInfo(announced=False)`: no announced prefix contains it."""
    now = now or clock.now()
    backend = backend or DnsBackend(config)
    parsed: dict[str, tuple[int, int, str] | None] = {}
    for ip in ips:
        if ip in parsed:
            continue
        try:
            parsed[ip] = to_int(ip)
        except (ValueError, AttributeError):
            log.warning("not an IP address: %r", ip)
            parsed[ip] = None
    addresses = {(p[0], p[1]) for p in parsed.values() if p is not None}
    table: PrefixTable[AsnInfo] = PrefixTable()
    if db is not None and backend.cacheable:
        load_prefixes(db, addresses, now, table)
    learnt, failed = await _resolve_origins(addresses, table, backend)
    if db is not None and backend.cacheable:
        store_prefixes(db, learnt, now, config.cache_ttl)
    found: dict[Addr, AsnInfo] = {}
    for addr in addresses - failed:
        match = table.match_int(*addr)
        if match is not None:
            found[addr] = match[1]
    asns = {info.asn for info in found.values() if info.asn is not None}
    names = await _names(asns, db, backend, now, config)
    result: dict[str, AsnInfo | None] = {}
    for ip, p in parsed.items():
        i = found.get((p[0], p[1])) if p is not None else None
        result[ip] = (
            None
            if i is None or p is None
            else AsnInfo(
                p[2],
                i.asn,
                i.asns,
                i.prefix,
                i.country,
                i.registry,
                i.allocated,
                names.get(i.asn) if i.asn else None,
                i.announced,
            )
        )
    return result


@dataclass(frozen=True)
class ResolveStats:
    checks: int = 0  # checks looked at
    resolved: int = 0  # got an ASN (and a hoster)
    not_announced: int = 0  # no announced prefix: marked, not asked again
    unresolved: int = 0  # DNS failure or bad IP: left pending for the next run
    queries: int = 0  # DNS questions sent
    report_ids: frozenset[int] = frozenset()  # reports whose checks changed (recompute them)


def backend_for(config: AsnConfig) -> Backend:
    """The configured backend: a routing-table file when `[asn] routing_table` is set (a key
    this module reads when present), else Team Cymru over DNS."""
    table = getattr(config, "routing_table", "")
    return RoutingTableBackend.from_file(table) if table else DnsBackend(config)


async def resolve_pending(
    db: Database,
    config: Config,
    *,
    limit: int | None = None,
    backend: Backend | None = None,
    now: datetime | None = None,
) -> ResolveStats:
    """Fill asn, asns, prefix and hoster_id of checks that have an IP but no ASN yet."""
    sql = (
        "SELECT c.id, c.report_id, c.ip, c.edge, r.origin_ip, r.origin_hoster_id "
        "FROM checks c JOIN reports r ON r.id = c.report_id WHERE c.asn IS NULL "
        "AND c.ip IS NOT NULL AND c.asns IS NULL ORDER BY c.id"
    )
    rows = list(db.query(sql + (" LIMIT ?" if limit else ""), [limit] if limit else []))
    if not rows:
        return ResolveStats()
    backend = backend or backend_for(config.asn)
    ips = {r["ip"] for r in rows} | {r["origin_ip"] for r in rows if r["origin_ip"]}
    infos = await lookup(ips, db, config.asn, backend=backend, now=now)
    registry = Registry.load(db)
    edges = EdgeAttribution(db, registry)  # CDN edges: the origin's hoster or "X (origin unknown)"
    resolved = not_announced = unresolved = 0
    touched: set[int] = set()
    with transaction(db):
        for row in rows:
            info = infos.get(row["ip"])
            if info is None:
                unresolved += 1
                continue
            origin = edges.origin_of(
                row["origin_hoster_id"],
                row["origin_ip"],
                infos.get(row["origin_ip"]) if row["origin_ip"] else None,
            )
            decided = edges.decide(row["ip"], info, row["edge"], origin)
            hoster = decided.hoster
            if info.announced:
                resolved += 1
                values = (info.asn, json.dumps(list(info.asns)), info.prefix)
            else:
                not_announced += 1
                values = (None, "[]", None)
            cursor = db.execute(
                "UPDATE checks SET asn = ?, asns = ?, prefix = ?, edge = COALESCE(?, edge), "
                "hoster_id = COALESCE(hoster_id, ?) WHERE id = ? AND asn IS NULL AND asns IS NULL",
                [*values, decided.edge, hoster.id if hoster else None, row["id"]],
            )
            if cursor.rowcount:
                touched.add(row["report_id"])
        learn_origins(db, touched)  # a direct check behind "X (origin unknown)": its origin
    return ResolveStats(
        len(rows), resolved, not_announced, unresolved, backend.queries, frozenset(touched)
    )


def resolve_pending_sync(
    db: Database,
    config: Config,
    *,
    limit: int | None = None,
    backend: Backend | None = None,
    now: datetime | None = None,
) -> ResolveStats:
    """`ntd-monitor asn resolve`: resolve_pending outside a running event loop."""
    return asyncio.run(resolve_pending(db, config, limit=limit, backend=backend, now=now))


async def attribute_new_checks(db: Database, config: Config) -> int:
    """The ASN stage after a crawl or an ingest batch: attribute new checks, refresh the
    summaries of their reports. Returns how many checks got an ASN."""

    stats = await resolve_pending(db, config)
    if stats.report_ids:
        summary.refresh(db, stats.report_ids, config.takedown, config.schedule, now=clock.now())
    return stats.resolved
