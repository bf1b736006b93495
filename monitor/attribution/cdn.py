"""The CDN registry: networks whose servers are edges of a CDN or reverse proxy, not hosters.

A check answered from a CDN edge is not attributed to the CDN as a hoster
(monitor.attribution.edge). The
registry lives in the `cdns` table, one row per network (`name`, `asn` or `prefix`, the CDN's
`abuse_email`), like the hoster registry. Migration m008 seeds it with `DEFAULTS`; staff edit it
with `ntd-monitor cdn import FILE` (CSV: name,asn,prefix,abuse_email; validated as
`hosters import` validates: file:line row errors, control characters refused, ASCII-digit ASNs,
prefixes no wider than /8 or /16) and read it with `cdn list`.

Only CDN-only networks belong here. An ASN that also carries ordinary hosting would turn every
site hosted there into "origin unknown": Amazon CloudFront shares AS16509 with AWS hosting, so
CloudFront is listed by its own prefixes (a snapshot of the CLOUDFRONT entries of
https://ip-ranges.amazonaws.com/ip-ranges.json; refresh them with `cdn import`), never by ASN;
Akamai's Linode hosting (AS63949) is not listed, only Akamai's CDN ASNs. CloudFront edges outside
these prefixes are still recognised by their headers (`x-amz-cf-id`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlite_utils import Database

from monitor.attribution.records import PrefixTable
from monitor.core import clock
from monitor.intake.common import ImportResult, parsed_rows, writing
from monitor.intake.hosters import RowInvalid, check_email, parse_network
from monitor.store.cdns import CdnRow, insert_row

COLUMNS = ("name", "asn", "prefix", "abuse_email")
ORIGIN_UNKNOWN = "{cdn} (origin unknown)"


def origin_unknown(cdn: str) -> str:
    """The name a check through `cdn`'s edge is attributed to when its origin is unknown."""
    return ORIGIN_UNKNOWN.format(cdn=cdn)


class CdnRegistry:
    """The CDN networks of one database: prefix -> name, ASN -> name, name -> abuse e-mail."""

    def __init__(self) -> None:
        self.by_prefix: PrefixTable[str] = PrefixTable()
        self.by_asn: dict[int, str] = {}
        self.emails: dict[str, str] = {}

    @classmethod
    def of(cls, rows: Iterable[CdnRow]) -> CdnRegistry:
        registry = cls()
        for row in rows:
            if row.prefix:
                registry.by_prefix.add(row.prefix, row.name)
            elif row.asn is not None:
                registry.by_asn[row.asn] = row.name
            if row.abuse_email:
                registry.emails[row.name] = row.abuse_email
        return registry

    @classmethod
    def load(cls, db: Database) -> CdnRegistry:
        if "cdns" not in db.table_names():  # a database before m008: no CDN known
            return cls()
        return cls.of(
            CdnRow(r["name"], r["asn"], r["prefix"], r["abuse_email"])
            for r in db.query("SELECT name, asn, prefix, abuse_email FROM cdns ORDER BY id")
        )


def parse_row(values: dict[str, str]) -> CdnRow:
    name, asn, prefix = parse_network(values)
    if asn is None and prefix is None:
        raise RowInvalid("give an asn or a prefix (a CDN row maps a network)")
    if asn is not None and prefix is not None:
        raise RowInvalid("give an asn or a prefix, not both (one network per row)")
    email = values.get("abuse_email", "").strip()
    return CdnRow(name, asn, prefix, check_email(email) if email else None)


def import_cdns(db: Database, path: str, *, dry_run: bool = False) -> ImportResult:
    """`cdn import FILE`: add CDN networks and contacts (existing rows are kept)."""
    result = ImportResult(file=str(path), dry_run=dry_run)
    rows = parsed_rows(path, COLUMNS, ("name",), parse_row, RowInvalid, result)
    now = clock.now_iso()
    with writing(db, dry_run):
        for cdn in rows:
            if insert_row(db, cdn, "import", now):
                result.added += 1
            else:
                result.unchanged += 1
    return result


def cdn_list(db: Database) -> list[dict]:
    """`cdn list`: one row per CDN with its networks and contact, and checks seen through it."""
    seen = {
        r["edge"]: r["n"]
        for r in db.query(
            "SELECT edge, count(*) AS n FROM checks WHERE edge IS NOT NULL GROUP BY edge"
        )
    }
    out: dict[str, dict] = {}
    for r in db.query("SELECT name, asn, prefix, abuse_email, source FROM cdns ORDER BY id"):
        entry = out.setdefault(
            r["name"],
            {
                "name": r["name"],
                "asns": [],
                "prefixes": [],
                "abuse_email": r["abuse_email"],
                "source": r["source"],
                "checks": 0,
            },
        )
        if r["prefix"]:
            entry["prefixes"].append(r["prefix"])
        else:
            entry["asns"].append(r["asn"])
        entry["abuse_email"] = entry["abuse_email"] or r["abuse_email"]
    for name, n in seen.items():
        out.setdefault(
            name,
            {
                "name": name,
                "asns": [],
                "prefixes": [],
                "abuse_email": None,
                "source": "headers",
                "checks": 0,
            },
        )["checks"] = n
    return list(out.values())
