"""The `cdns` table's rows: one CDN network (ASN or prefix) with the CDN's abuse e-mail, and the
shipped default list that migration m008 seeds (why these, and why CloudFront by prefix only:
monitor.attribution.cdn)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from monitor.core import clock
from monitor.core.cdn_names import AKAMAI, CLOUDFLARE, CLOUDFRONT, FASTLY, IMPERVA

_CLOUDFRONT_PREFIXES = (
    "13.32.0.0/15",
    "13.224.0.0/14",
    "52.84.0.0/15",
    "54.182.0.0/16",
    "54.192.0.0/16",
    "54.230.0.0/16",
    "99.84.0.0/16",
    "143.204.0.0/16",
)


@dataclass(frozen=True)
class CdnRow:
    name: str
    asn: int | None
    prefix: str | None
    abuse_email: str | None


DEFAULTS: tuple[CdnRow, ...] = (
    CdnRow(CLOUDFLARE, 13335, None, "abuse@cloudflare.com"),
    CdnRow(AKAMAI, 20940, None, "abuse@akamai.com"),
    CdnRow(AKAMAI, 16625, None, "abuse@akamai.com"),
    CdnRow(FASTLY, 54113, None, "abuse@fastly.com"),
    CdnRow(IMPERVA, 19551, None, None),
    *(CdnRow(CLOUDFRONT, None, p, "abuse@amazonaws.com") for p in _CLOUDFRONT_PREFIXES),
)
"""The shipped list (CDN-only ASNs; CloudFront by prefix, see the module docstring)."""


def insert_row(db: Database, row: CdnRow, source: str, now: str) -> bool:
    """Add one network row (True) unless it is there; set the name's e-mail when given."""
    conn = db.conn
    changed = False
    if row.abuse_email:
        cur = conn.execute(
            "UPDATE cdns SET abuse_email = ? WHERE name = ? AND abuse_email IS NOT ?",
            [row.abuse_email, row.name, row.abuse_email],
        )
        changed = cur.rowcount > 0
    exists = conn.execute(
        "SELECT 1 FROM cdns WHERE name = ? AND asn IS ? AND prefix IS ?",
        [row.name, row.asn, row.prefix],
    ).fetchone()
    if not exists:
        email = row.abuse_email or next(
            iter(
                conn.execute(
                    "SELECT abuse_email FROM cdns WHERE name = ? AND abuse_email IS NOT NULL",
                    [row.name],
                ).fetchone()
                or ()
            ),
            None,
        )
        conn.execute(
            "INSERT INTO cdns (name, asn, prefix, abuse_email, source, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [row.name, row.asn, row.prefix, email, source, now],
        )
        changed = True
    return changed


def seed_defaults(db: Database) -> None:
    """Migration m008: the shipped list."""
    now = clock.now_iso()
    for row in DEFAULTS:
        insert_row(db, row, "default", now)
