"""`hosters import`: the hoster registry from CSV.

Columns: name,asn,prefix,country,abuse_email,webhook_url,webhook_secret_env. One row per network
of a hoster (a hoster with two ASNs has two rows; contacts may repeat or be given once). A row
maps either a whole ASN (prefix empty) or an IP prefix (a reseller inside a larger ASN). The
webhook secret itself never enters the database: only the name of the environment variable that
holds it. Curating an ASN that was attributed to an auto-created `unmapped` hoster moves that
ASN to the curated hoster.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from monitor import clock, store
from monitor.importing import ImportResult, read_rows

COLUMNS = ("name", "asn", "prefix", "country", "abuse_email", "webhook_url",
           "webhook_secret_env")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RowInvalid(ValueError):
    pass


@dataclass(frozen=True)
class HosterRow:
    name: str
    asn: int | None
    prefix: str | None
    contacts: dict[str, str]


def parse_row(values: dict[str, str]) -> HosterRow:
    name = values.get("name", "").strip()
    if not name:
        raise RowInvalid("name is empty")
    asn_text = values.get("asn", "").strip().upper().removeprefix("AS")
    asn = None
    if asn_text:
        if not asn_text.isdigit() or not 0 < int(asn_text) < 2**32:
            raise RowInvalid(f"asn: not an AS number: {values.get('asn')!r}")
        asn = int(asn_text)
    prefix = None
    if values.get("prefix", "").strip():
        try:
            prefix = str(ipaddress.ip_network(values["prefix"].strip(), strict=False))
        except ValueError:
            raise RowInvalid(f"prefix: not an IP prefix: {values['prefix']!r}") from None
    contacts: dict[str, str] = {}
    country = values.get("country", "").strip().upper()
    if country:
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise RowInvalid(f"country: expected a two-letter code, got {country!r}")
        contacts["country"] = country
    email = values.get("abuse_email", "").strip()
    if email:
        if not _EMAIL.match(email):
            raise RowInvalid(f"abuse_email: not an email address: {email!r}")
        contacts["abuse_email"] = email
    hook = values.get("webhook_url", "").strip()
    if hook:
        if not re.match(r"^https?://[^\s/]+", hook):
            raise RowInvalid(f"webhook_url: not an http(s) URL: {hook!r}")
        contacts["webhook_url"] = hook
    env = values.get("webhook_secret_env", "").strip()
    if env:
        if not _ENV_NAME.match(env):
            raise RowInvalid(
                f"webhook_secret_env: must name an environment variable, got {env[:40]!r}")
        contacts["webhook_secret_env"] = env
    return HosterRow(name, asn, prefix, contacts)


def import_hosters(db: Database, path: str | Path, *, dry_run: bool = False) -> ImportResult:
    result = ImportResult(file=str(path), dry_run=dry_run)
    rows: list[HosterRow] = []
    for row in read_rows(path, COLUMNS, ("name",)):
        result.read += 1
        if row.problem:
            result.error(row.line, row.problem)
            continue
        try:
            rows.append(parse_row(row.values))
        except RowInvalid as exc:
            result.error(row.line, str(exc))
    if dry_run:
        result.added = len(rows)
        return result
    now = clock.now_iso()
    conn = db.conn
    with store.transaction(db):
        for hoster in rows:
            existing = conn.execute("SELECT id, country, abuse_email, webhook_url, "
                                    "webhook_secret_env, unmapped FROM hosters WHERE name = ?",
                                    [hoster.name]).fetchone()
            changed = False
            if existing is None:
                cur = conn.execute("INSERT INTO hosters (name, created_at) VALUES (?, ?)",
                                   [hoster.name, now])
                hoster_id = cur.lastrowid
                changed = True
            else:
                hoster_id = existing[0]
                current = dict(zip(("country", "abuse_email", "webhook_url",
                                    "webhook_secret_env"), existing[1:5], strict=True))
                changed = existing[5] == 1 or any(
                    current[k] != v for k, v in hoster.contacts.items())
            if hoster.contacts or changed:
                sets = ", ".join(f"{k} = ?" for k in hoster.contacts)
                conn.execute(f"UPDATE hosters SET unmapped = 0{', ' + sets if sets else ''} "
                             "WHERE id = ?", [*hoster.contacts.values(), hoster_id])
            if hoster.asn is not None or hoster.prefix is not None:
                if hoster.asn is not None and hoster.prefix is None:
                    conn.execute(
                        "DELETE FROM hoster_networks WHERE asn = ? AND prefix IS NULL AND "
                        "hoster_id IN (SELECT id FROM hosters WHERE unmapped = 1)", [hoster.asn])
                exists = conn.execute(
                    "SELECT 1 FROM hoster_networks WHERE hoster_id = ? AND asn IS ? "
                    "AND prefix IS ?", [hoster_id, hoster.asn, hoster.prefix]).fetchone()
                if not exists:
                    conn.execute("INSERT INTO hoster_networks (hoster_id, asn, prefix) "
                                 "VALUES (?, ?, ?)", [hoster_id, hoster.asn, hoster.prefix])
                    changed = True
            if changed:
                result.added += 1
            else:
                result.unchanged += 1
    return result
