"""The ASN cache in the store: announced (and not-announced) prefixes and AS names, with a TTL.

`asn_cache` holds one row per prefix as announced (or per /24, /48 found not announced), with
the first and last address as 32 hex digits so the rows containing an address are found with an
index range query. Rows past `expires_at` are ignored (and overwritten when learnt again).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlite_utils import Database

from monitor.attribution.records import AsnInfo, PrefixTable, key
from monitor.core import clock
from monitor.store import transaction

# The widest prefix we expect to see announced: bounds the index scan for a containing row.
_WIDEST = {4: 8, 6: 16}
_BLOCK = {4: 16, 6: 32}


def load_prefixes(
    db: Database, addresses: Iterable[tuple[int, int]], now: datetime, table: PrefixTable[AsnInfo]
) -> int:
    """Add every unexpired cached prefix that may contain one of `addresses` to `table`.

    `addresses` are (IP version, integer). One query per distinct /16 (IPv4) or /32 (IPv6)
    block. Returns the rows loaded.
    """
    blocks = set()
    for version, number in addresses:
        shift = (32 if version == 4 else 128) - _BLOCK[version]
        blocks.add((version, number >> shift, shift))
    when = clock.iso(now)
    loaded = 0
    sql = (
        "SELECT * FROM asn_cache WHERE family = ? AND start_key >= ? AND start_key <= ? "
        "AND end_key >= ? AND expires_at > ?"
    )
    for version, block, shift in blocks:
        first, last = block << shift, ((block + 1) << shift) - 1
        wide = (32 if version == 4 else 128) - _WIDEST[version]
        lower = first >> wide << wide
        params = (version, f"{lower:032x}", f"{last:032x}", f"{first:032x}", when)
        for row in db.query(sql, params):
            table.add(row["prefix"], _info(row))
            loaded += 1
    return loaded


def _info(row: dict) -> AsnInfo:
    announced = row["status"] == "announced"
    asns = tuple(json.loads(row["asns"])) if row["asns"] else ()
    return AsnInfo(
        ip="",
        asn=row["asn"],
        asns=asns,
        prefix=row["prefix"],
        country=row["country"],
        registry=row["registry"],
        allocated=row["allocated"],
        announced=announced,
    )


def store_prefixes(db: Database, infos: Iterable[AsnInfo], now: datetime, ttl: timedelta) -> None:
    """Write learnt prefixes (announced or not) with `expires_at = now + ttl`."""
    rows = []
    for info in infos:
        if info.prefix is None:  # nothing learnt to cache
            continue
        net = ipaddress.ip_network(info.prefix, strict=False)
        rows.append(
            {
                "prefix": str(net),
                "family": net.version,
                "start_key": key(net.network_address),
                "end_key": key(net.broadcast_address),
                "status": "announced" if info.announced else "not_announced",
                "asn": info.asn,
                "asns": json.dumps(list(info.asns)) if info.announced else None,
                "country": info.country,
                "registry": info.registry,
                "allocated": info.allocated,
                "fetched_at": clock.iso(now),
                "expires_at": clock.iso(now + ttl),
            }
        )
    if rows:
        with transaction(db):
            db.table("asn_cache").upsert_all(rows, pk="prefix")


def load_names(db: Database, asns: Iterable[int], now: datetime) -> dict[int, str | None]:
    """Unexpired cached AS names (None: the AS has no name record)."""
    wanted = sorted(set(asns))
    found: dict[int, str | None] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT asn, name FROM asn_names WHERE asn IN ({marks}) AND expires_at > ?"
        for row in db.query(sql, [*chunk, clock.iso(now)]):
            found[row["asn"]] = row["name"]
    return found


def store_names(
    db: Database, names: dict[int, tuple[str | None, str | None]], now: datetime, ttl: timedelta
) -> None:
    """Write AS names: {asn: (name, country)}."""
    rows = [
        {
            "asn": asn,
            "name": name,
            "country": country,
            "fetched_at": clock.iso(now),
            "expires_at": clock.iso(now + ttl),
        }
        for asn, (name, country) in names.items()
    ]
    if rows:
        with transaction(db):
            db.table("asn_names").upsert_all(rows, pk="asn")
