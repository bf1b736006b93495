"""`hosters import`: the hoster registry from CSV.

Columns: name,asn,prefix,country,abuse_email,webhook_url,webhook_secret_env,webhook_scheme. One
row per network of a hoster (a hoster with two ASNs has two rows; contacts may repeat or be given
once). A row maps either a whole ASN (prefix empty) or an IP prefix (a reseller inside a larger
ASN). The webhook secret itself never enters the database: only the name of the environment
variable that holds it. Curating an ASN that was attributed to an auto-created `unmapped` hoster
moves that ASN to the curated hoster.

Hostile rows are row errors, never stored: an ASN must be ASCII digits (`AS` optional) in
1..4294967294 (0 and 4294967295 are reserved); a prefix must be a network without host bits set
and no wider than /8 (IPv4) or /16 (IPv6); `abuse_email` one plain address; `webhook_url` http(s)
without credentials, and a literal-IP host must pass the network guard (`monitor.core.netguard`;
host names are checked at delivery); `webhook_scheme` is `standard` (default) or `x-signature`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlite_utils import Database
from w3lib.url import safe_url_string

from monitor.core import clock
from monitor.core.netguard import NetworkRefused, check_url_host
from monitor.core.urls import UrlError, check_parts, host_problem
from monitor.intake.common import ImportResult, parsed_rows, writing

COLUMNS = (
    "name",
    "asn",
    "prefix",
    "country",
    "abuse_email",
    "webhook_url",
    "webhook_secret_env",
    "webhook_scheme",
)
CONTACTS = ("country", "abuse_email", "webhook_url", "webhook_secret_env", "webhook_scheme")
WEBHOOK_SCHEMES = ("standard", "x-signature")
MAX_NAME = 200
MAX_WEBHOOK_URL = 2048
MAX_ASN = 2**32 - 2  # 4294967295 is reserved (RFC 7300), as is 0 (RFC 7607)
MIN_PREFIXLEN = {4: 8, 6: 16}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_ASN = re.compile(r"(?:AS)?([0-9]{1,10})", re.IGNORECASE | re.ASCII)  # not \d, not "\u017f"
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


class RowInvalid(ValueError):
    pass


@dataclass(frozen=True)
class HosterRow:
    name: str
    asn: int | None
    prefix: str | None
    contacts: dict[str, str]


def parse_asn(text: str) -> int | None:
    """`AS64500` or `64500` (ASCII digits only) in 1..4294967294; empty: None."""
    raw = text.strip()
    if not raw:
        return None
    match = _ASN.fullmatch(raw)
    if not match or not 0 < int(match.group(1)) <= MAX_ASN:
        raise RowInvalid(
            f"asn: not an AS number: {raw[:40]!r} (ASCII digits, AS prefix "
            f"optional, 1..{MAX_ASN}; 0 and {MAX_ASN + 1} are reserved)"
        )
    return int(match.group(1))


def parse_prefix(text: str) -> str | None:
    """A CIDR network, no host bits set, at least /8 (IPv4) or /16 (IPv6); empty: None."""
    raw = text.strip()
    if not raw:
        return None
    try:
        if "%" in raw:
            raise ValueError("zone id")
        net = ipaddress.ip_network(raw, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            loose = ipaddress.ip_network(raw, strict=False)
            raise RowInvalid(
                f"prefix: {raw!r} has host bits set (the network is {loose})"
            ) from None
        raise RowInvalid(f"prefix: not an IP prefix: {raw[:80]!r}") from None
    shortest = MIN_PREFIXLEN[net.version]
    if net.prefixlen < shortest:
        raise RowInvalid(
            f"prefix: {net} is too wide (IPv{net.version} prefixes must be /{shortest} or longer)"
        )
    return str(net)


def check_email(text: str) -> str:
    """One plain address: local@domain.tld, no display name, no list, no comment."""
    local, at, domain = text.partition("@")
    if (
        not at
        or len(text) > 254
        or not text.isascii()
        or not _LOCAL_PART.fullmatch(local)
        or "@" in domain
        or "." not in domain.strip(".")
        or host_problem(domain.lower())
        or not re.search("[A-Za-z]", domain.rstrip(".").rsplit(".", 1)[-1])
    ):
        raise RowInvalid(f"abuse_email: not a single plain e-mail address: {text[:80]!r}")
    return text


def check_webhook(text: str, allow_networks: tuple[str, ...] = ()) -> str:
    """An http(s) URL without credentials; a literal-IP host must pass the network guard."""
    if len(text) > MAX_WEBHOOK_URL:
        raise RowInvalid(f"webhook_url: longer than {MAX_WEBHOOK_URL} characters")
    try:
        if "@" in urlsplit(text).netloc:
            raise UrlError(
                "contains credentials (user:password@); name the secret in webhook_secret_env"
            )
        url = safe_url_string(text)
        parts = urlsplit(url)
        check_parts(parts, what="webhook_url")
    except (UrlError, ValueError, UnicodeError) as exc:
        raise RowInvalid(f"webhook_url: {exc}") from None
    try:
        check_url_host(url, tuple(allow_networks))
    except NetworkRefused as exc:
        raise RowInvalid(f"webhook_url: {exc}") from None
    return url


def _contacts(values: dict[str, str], allow_networks: tuple[str, ...]) -> dict[str, str]:
    contacts: dict[str, str] = {}
    country = values.get("country", "").strip()
    if country:
        if not re.fullmatch(r"[A-Za-z]{2}", country):
            raise RowInvalid(f"country: expected a two-letter code, got {country[:20]!r}")
        contacts["country"] = country.upper()
    email = values.get("abuse_email", "").strip()
    if email:
        contacts["abuse_email"] = check_email(email)
    hook = values.get("webhook_url", "").strip()
    if hook:
        contacts["webhook_url"] = check_webhook(hook, allow_networks)
    env = values.get("webhook_secret_env", "").strip()
    if env:
        if not _ENV_NAME.fullmatch(env):
            raise RowInvalid(
                f"webhook_secret_env: must name an environment variable, got {env[:40]!r}"
            )
        contacts["webhook_secret_env"] = env
    scheme = values.get("webhook_scheme", "").strip().lower()
    if scheme:
        if scheme not in WEBHOOK_SCHEMES:
            raise RowInvalid(
                f"webhook_scheme: {scheme[:40]!r} is not one of {', '.join(WEBHOOK_SCHEMES)}"
            )
        contacts["webhook_scheme"] = scheme
    return contacts


def parse_network(values: dict[str, str]) -> tuple[str, int | None, str | None]:
    """A registry row's name, ASN and prefix (hosters, CDNs), each checked."""
    name = values.get("name", "").strip()
    if not name:
        raise RowInvalid("name is empty")
    if len(name) > MAX_NAME:
        raise RowInvalid(f"name longer than {MAX_NAME} characters")
    return name, parse_asn(values.get("asn", "")), parse_prefix(values.get("prefix", ""))


def parse_row(values: dict[str, str], allow_networks: tuple[str, ...] = ()) -> HosterRow:
    name, asn, prefix = parse_network(values)
    return HosterRow(name, asn, prefix, _contacts(values, allow_networks))


def import_hosters(
    db: Database, path: str | Path, *, dry_run: bool = False, allow_networks: tuple[str, ...] = ()
) -> ImportResult:
    """Import a hosters file; `allow_networks` opens those networks to literal-IP webhooks
    (the demo's loopback receiver), as `[crawl] allow_networks` does for crawls."""
    result = ImportResult(file=str(path), dry_run=dry_run)
    rows = parsed_rows(
        path, COLUMNS, ("name",), lambda v: parse_row(v, allow_networks), RowInvalid, result
    )
    now = clock.now_iso()
    conn = db.conn
    with writing(db, dry_run):
        for hoster in rows:
            keys = [k for k in CONTACTS if k in hoster.contacts]  # a fixed list: safe in SQL
            existing = conn.execute(
                f"SELECT {', '.join(['id', 'unmapped', *keys])} FROM hosters WHERE name = ?",
                [hoster.name],
            ).fetchone()
            changed = False
            if existing is None:
                cur = conn.execute(
                    "INSERT INTO hosters (name, created_at) VALUES (?, ?)", [hoster.name, now]
                )
                hoster_id = cur.lastrowid
                changed = True
            else:
                hoster_id = existing[0]
                changed = existing[1] == 1 or any(
                    old != hoster.contacts[k] for k, old in zip(keys, existing[2:], strict=True)
                )
            if hoster.contacts or changed:
                sets = "".join(f", {k} = ?" for k in keys)
                conn.execute(
                    f"UPDATE hosters SET unmapped = 0{sets} WHERE id = ?",
                    [*(hoster.contacts[k] for k in keys), hoster_id],
                )
            if hoster.asn is not None or hoster.prefix is not None:
                if hoster.asn is not None and hoster.prefix is None:
                    conn.execute(
                        "DELETE FROM hoster_networks WHERE asn = ? AND prefix IS NULL AND "
                        "hoster_id IN (SELECT id FROM hosters WHERE unmapped = 1)",
                        [hoster.asn],
                    )
                exists = conn.execute(
                    "SELECT 1 FROM hoster_networks WHERE hoster_id = ? AND asn IS ? "
                    "AND prefix IS ?",
                    [hoster_id, hoster.asn, hoster.prefix],
                ).fetchone()
                if not exists:
                    conn.execute(
                        "INSERT INTO hoster_networks (hoster_id, asn, prefix) VALUES (?, ?, ?)",
                        [hoster_id, hoster.asn, hoster.prefix],
                    )
                    changed = True
            if changed:
                result.added += 1
            else:
                result.unchanged += 1
    return result
