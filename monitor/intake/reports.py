"""`import reports`: reported URLs (CSV or JSON Lines) into the store.

Columns: url,reference,reported_at,noticed_at,phash,pdq,sha256 (only url required), `vpdq` (a
reported video's vPDQ signature in any form hashes.video_text reads: stored in its canonical
text as the report's `vpdq` baseline, checked like the other hashes), and for a
site behind a CDN the origin as the hotline knows it: `origin_ip` (the origin server's address)
and/or `origin_hoster` (a hoster already in the registry, which is then the notified hoster);
checks through the CDN's edge are attributed to that origin (monitor.attribution.cdn_attribute),
not to the
CDN. The origin is taken at a report's first import. Each row is
validated and normalised (URL cleaned and keyed, times read with their zone, hashes checked);
bad rows are listed and skipped; all good rows go in one transaction, written in chunks so a
large file streams in constant memory. Re-importing a file changes nothing: a URL already
stored (by its normalised key) is left as it is, and its hashes are only added when new.
Times must be plausible: from 1990-01-01 to one day after now (`clock.now()`, so `--now`
counts); anything else is a row error. A dry run makes the same writes and rolls them back.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from hashes.formats import HashFormatError, normalize
from monitor.core import clock
from monitor.core.config import Config
from monitor.core.schedule import first_check
from monitor.core.urls import UrlError, clean, key
from monitor.intake.common import ImportResult, read_rows, writing

COLUMNS = (
    "url",
    "reference",
    "reported_at",
    "noticed_at",
    "phash",
    "pdq",
    "sha256",
    "vpdq",
    "origin_ip",
    "origin_hoster",
)
HASH_COLUMNS = ("phash", "pdq", "sha256", "vpdq")
CHUNK = 2000
CHUNK_CHARS = 32 * 1024 * 1024  # also flushed at this much hash text (video signatures are long)
MAX_REFERENCE = 200
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)


class RowInvalid(ValueError):
    pass


@dataclass(frozen=True)
class ReportRow:
    url: str
    url_key: str
    reference: str | None
    reported_at: str
    noticed_at: str
    hashes: tuple[tuple[str, str], ...]
    origin_ip: str | None = None
    origin_hoster: str | None = None  # a hoster's name (checked against the registry)
    origin_hoster_id: int | None = None


def _time(value: str, name: str, zone_less: list[int], latest: datetime) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    try:
        try:
            when = clock.parse(text)
        except clock.TimeFormatError as exc:
            if "without a zone" not in str(exc):
                raise
            when = clock.parse(text, assume_utc=True)
            zone_less[0] += 1
    except clock.TimeFormatError as exc:
        raise RowInvalid(f"{name}: {exc}") from None
    if not EARLIEST <= when <= latest:
        raise RowInvalid(
            f"{name}: {clock.iso(when)} is not a plausible time "
            f"(accepted: {clock.iso(EARLIEST)} to {clock.iso(latest)})"
        )
    return when


def parse_row(
    values: dict[str, str],
    imported_at: datetime,
    zone_less: list[int],
    latest: datetime | None = None,
) -> ReportRow:
    latest = latest or imported_at + FUTURE_SLACK
    try:
        url = clean(values.get("url", ""))
    except UrlError as exc:
        raise RowInvalid(f"url: {exc}") from None
    reported = _time(values.get("reported_at", ""), "reported_at", zone_less, latest)
    noticed = _time(values.get("noticed_at", ""), "noticed_at", zone_less, latest)
    reported = reported or noticed or imported_at
    noticed = noticed or reported
    if noticed < reported:
        raise RowInvalid("noticed_at is before reported_at")
    found = []
    for column in HASH_COLUMNS:
        raw = values.get(column, "").strip()
        if raw:
            try:
                found.append(normalize(column, raw))
            except HashFormatError as exc:
                raise RowInvalid(f"{column}: {exc}") from None
    reference = values.get("reference", "").strip() or None
    if reference and len(reference) > MAX_REFERENCE:
        raise RowInvalid(f"reference longer than {MAX_REFERENCE} characters")
    origin_ip = values.get("origin_ip", "").strip() or None
    if origin_ip:
        try:
            if "%" in origin_ip:
                raise ValueError("zone id")
            origin_ip = str(ipaddress.ip_address(origin_ip))
        except ValueError:
            raise RowInvalid(f"origin_ip: not an IP address: {origin_ip[:60]!r}") from None
    origin_hoster = values.get("origin_hoster", "").strip() or None
    if origin_hoster and len(origin_hoster) > MAX_REFERENCE:
        raise RowInvalid(f"origin_hoster longer than {MAX_REFERENCE} characters")
    return ReportRow(
        url,
        key(url),
        reference,
        clock.iso(reported),  # type: ignore[arg-type]
        clock.iso(noticed),
        tuple(found),  # type: ignore[arg-type]
        origin_ip,
        origin_hoster,
    )


def _origin_hosters(db: Database) -> dict[str, int]:
    """Hosters an import may name as an origin: any but a CDN's "(origin unknown)" group."""
    return dict(db.execute("SELECT name, id FROM hosters WHERE cdn IS NULL").fetchall())


def import_reports(
    db: Database,
    path: str | Path,
    config: Config,
    *,
    dry_run: bool = False,
    not_after: datetime | None = None,
) -> ImportResult:
    """Import a reports file. `not_after` (default: a day after now) is the latest plausible
    time; a simulation that loads its whole planned world up front passes the world's end."""
    result = ImportResult(file=str(path), dry_run=dry_run)
    imported_at = clock.now()
    latest = not_after or imported_at + FUTURE_SLACK
    zone_less = [0]
    seen: set[str] = set()
    chunk: list[ReportRow] = []
    size = [0]  # characters of hash text in `chunk`
    origins: dict[str, int] | None = None

    def flush() -> None:
        if chunk:
            _write(db, chunk, imported_at, config, result)
        chunk.clear()
        size[0] = 0

    with writing(db, dry_run):
        for row in read_rows(path, COLUMNS, ("url",), signatures=("vpdq",)):
            result.read += 1
            if row.problem:
                result.error(row.line, row.problem)
                continue
            try:
                parsed = parse_row(row.values, imported_at, zone_less, latest)
            except RowInvalid as exc:
                result.error(row.line, str(exc))
                continue
            if parsed.origin_hoster:
                origins = _origin_hosters(db) if origins is None else origins
                if parsed.origin_hoster not in origins:
                    result.error(
                        row.line,
                        f"origin_hoster: no hoster named "
                        f"{parsed.origin_hoster[:80]!r} (add it with `hosters import`)",
                    )
                    continue
                parsed = replace(parsed, origin_hoster_id=origins[parsed.origin_hoster])
            if parsed.url_key in seen and not parsed.hashes:
                result.unchanged += 1
                continue
            seen.add(parsed.url_key)
            chunk.append(parsed)
            size[0] += sum(len(value) for _, value in parsed.hashes)
            if len(chunk) >= CHUNK or size[0] >= CHUNK_CHARS:
                flush()
        flush()
    if zone_less[0]:
        result.notes.append(f"{zone_less[0]} time(s) had no zone and were read as UTC")
    return result


def _write(
    db: Database, rows: list[ReportRow], imported_at: datetime, config: Config, result: ImportResult
) -> None:
    conn = db.conn
    stamp = clock.iso(imported_at)
    before = conn.total_changes
    conn.executemany(
        "INSERT INTO reports (kind, url, url_key, reference, reported_at, noticed_at, "
        "imported_at, next_check_at, origin_ip, origin_hoster_id, notified_hoster_id) "
        "VALUES ('report', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url_key) DO NOTHING",
        [
            (
                r.url,
                r.url_key,
                r.reference,
                r.reported_at,
                r.noticed_at,
                stamp,
                clock.iso(first_check(clock.parse(r.noticed_at), config.schedule)),
                r.origin_ip,
                r.origin_hoster_id,
                r.origin_hoster_id,
            )  # the origin gets the notice
            for r in rows
        ],
    )
    added = conn.total_changes - before
    result.added += added
    result.unchanged += len(rows) - added
    with_hashes = [r for r in rows if r.hashes]
    if not with_hashes:
        return
    ids = dict(
        conn.execute(
            "SELECT url_key, id FROM reports WHERE url_key IN "
            f"({','.join('?' * len(with_hashes))})",
            [r.url_key for r in with_hashes],
        ).fetchall()
    )
    conn.executemany(
        "INSERT OR IGNORE INTO report_hashes (report_id, algorithm, hash, origin, created_at) "
        "VALUES (?, ?, ?, 'imported', ?)",
        [(ids[r.url_key], algo, value, stamp) for r in with_hashes for algo, value in r.hashes],
    )
