"""The hoster registry: who served an IP, by curated prefix, else by ASN, else by AS name.

Hosters and their networks live in `hosters` and `hoster_networks` (written by `hosters import`).
A network row with a prefix maps that prefix (longest prefix wins, so a reseller inside a large
ASN is its own hoster); a row with only an ASN maps the whole ASN. A prefix mapping beats an ASN
mapping. An announced ASN nobody mapped gets a hoster named after its AS name (or "AS64500"),
flagged `unmapped`, with a network row for that ASN, so staff can see it in `hosters list` and
curate it.

`new_webhook_secret` makes a Standard Webhooks secret for `hosters secret NAME`: printed once,
stored only in the environment variable the registry names, never in the database.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from monitor.attribution.records import AsnInfo, PrefixTable
from monitor.core import clock


@dataclass(frozen=True)
class HosterRef:
    id: int
    name: str
    unmapped: bool


class Registry:
    """The hosters of one database, loaded for fast attribution of many IPs."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.by_prefix: PrefixTable[HosterRef] = PrefixTable()
        self.by_asn: dict[int, HosterRef] = {}
        self.by_name: dict[str, HosterRef] = {}

    @classmethod
    def load(cls, db: Database) -> Registry:
        registry = cls(db)
        refs = {}
        for row in db.query("SELECT id, name, unmapped FROM hosters ORDER BY id"):
            ref = HosterRef(row["id"], row["name"], bool(row["unmapped"]))
            refs[ref.id] = ref
            registry.by_name[ref.name] = ref
        rows = db.query("SELECT hoster_id, asn, prefix FROM hoster_networks ORDER BY id")
        for row in rows:
            ref = refs[row["hoster_id"]]
            if row["prefix"]:
                try:
                    registry.by_prefix.add(row["prefix"], ref)
                except ValueError:
                    continue
            elif row["asn"] is not None:
                current = registry.by_asn.get(row["asn"])
                # a curated hoster wins over an unmapped fallback for the same ASN
                if current is None or (current.unmapped and not ref.unmapped):
                    registry.by_asn[row["asn"]] = ref
        return registry

    def attribute(self, ip: str, info: AsnInfo | None) -> HosterRef | None:
        """The hoster serving `ip`; creates the unmapped fallback for an unknown ASN.
        None when nothing maps the IP and it has no ASN."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            address = None
        if address is not None:
            found = self.by_prefix.match(address)
            if found is not None:
                return found[1]
        if info is None or info.asn is None:
            return None
        ref = self.by_asn.get(info.asn)
        if ref is None:
            ref = self._unmapped(info.asn, info.as_name, info.country)
        return ref

    def _unmapped(self, asn: int, as_name: str | None, country: str | None) -> HosterRef:
        name = as_name or f"AS{asn}"
        existing = self.by_name.get(name)
        if existing is not None and not existing.unmapped:
            name = f"{name} (AS{asn})"  # never merge into a curated hoster by name
            existing = self.by_name.get(name)
        if existing is None:
            hoster_id = (
                self.db.table("hosters")
                .insert(
                    {"name": name, "country": country, "unmapped": 1, "created_at": clock.now_iso()}
                )
                .last_pk
            )
            existing = HosterRef(int(str(hoster_id)), name, True)
            self.by_name[name] = existing
        self.db.execute(
            "INSERT OR IGNORE INTO hoster_networks (hoster_id, asn, prefix) VALUES (?, ?, NULL)",
            [existing.id, asn],
        )
        self.by_asn[asn] = existing
        return existing


@dataclass(frozen=True)
class HosterVolume:
    id: int
    name: str
    country: str | None
    unmapped: bool
    asns: tuple[int, ...]
    prefixes: tuple[str, ...]
    checks: int
    online_checks: int
    reports: int  # reports notified to it or last attributed to it


def hoster_volumes(db: Database) -> list[HosterVolume]:
    """Per hoster, busiest first: networks, checks attributed to it, reports."""
    nets: dict[int, tuple[list[int], list[str]]] = {}
    for row in db.query("SELECT hoster_id, asn, prefix FROM hoster_networks ORDER BY asn, prefix"):
        asns, prefixes = nets.setdefault(row["hoster_id"], ([], []))
        if row["prefix"]:
            prefixes.append(row["prefix"])
        elif row["asn"] is not None:
            asns.append(row["asn"])
    checks = {
        r["hoster_id"]: (r["n"], r["online"])
        for r in db.query(
            "SELECT hoster_id, count(*) AS n, sum(outcome = 'online') AS online FROM checks "
            "WHERE hoster_id IS NOT NULL GROUP BY hoster_id"
        )
    }
    reports = {
        r["h"]: r["n"]
        for r in db.query(
            "SELECT coalesce(notified_hoster_id, hoster_id) AS h, count(*) AS n FROM reports "
            "WHERE h IS NOT NULL GROUP BY h"
        )
    }
    out = []
    for row in db.query("SELECT id, name, country, unmapped FROM hosters"):
        asns, prefixes = nets.get(row["id"], ([], []))
        n, online = checks.get(row["id"], (0, 0))
        out.append(
            HosterVolume(
                row["id"],
                row["name"],
                row["country"],
                bool(row["unmapped"]),
                tuple(asns),
                tuple(prefixes),
                n,
                online or 0,
                reports.get(row["id"], 0),
            )
        )
    out.sort(key=lambda v: (-v.checks, -v.reports, v.name))
    return out


@dataclass(frozen=True)
class UnmappedAsn:
    asn: int
    name: str | None
    hoster_id: int
    checks: int


def unmapped_asns(db: Database, limit: int = 10) -> list[UnmappedAsn]:
    """The ASNs attributed through the unmapped fallback with the most checks (to curate)."""
    sql = """
        SELECT c.asn AS asn, n.name AS name, c.hoster_id AS hoster_id, count(*) AS checks
        FROM checks c JOIN hosters h ON h.id = c.hoster_id
        LEFT JOIN asn_names n ON n.asn = c.asn
        WHERE h.unmapped = 1 AND c.asn IS NOT NULL
        GROUP BY c.asn, c.hoster_id ORDER BY checks DESC, c.asn LIMIT ?"""
    return [
        UnmappedAsn(r["asn"], r["name"], r["hoster_id"], r["checks"])
        for r in db.query(sql, [limit])
    ]


def moves(checks: Iterable[Mapping[str, Any] | Any]) -> int:
    """Changes of serving hoster between consecutive attributed online checks (in time order).
    Accepts mappings or objects with `outcome` and `hoster_id`."""
    count, last = 0, None
    for check in checks:
        get = check.get if isinstance(check, Mapping) else lambda k, c=check: getattr(c, k, None)
        hoster = get("hoster_id")
        if get("outcome") != "online" or hoster is None:
            continue
        if last is not None and hoster != last:
            count += 1
        last = hoster
    return count
