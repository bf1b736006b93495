"""`import orders`: removal orders (CSV or JSON Lines) into the store.

Columns: url,reference,order_id,issued_at,deadline,authority. `order_id`, `issued_at` and
`deadline` are required, and `url` or `reference` per row: a URL names the one report stored
under its normalised key, a reference every report with that reference (an order given by
reference applies to each, one `orders` row per order and report); both given must name the
same report(s). An unknown URL or reference is a row error: an order is about reported material.

`deadline` is a duration after `issued_at` ("1h", "24h", "5d": monitor.core.clock.duration) or an
ISO-8601 time; it must be after `issued_at` and at most `MAX_DEADLINE` (90 days) after it.
`issued_at` must be plausible (1990-01-01 to a day after now, `--now` counting); zone-less times
are read as UTC and the output says so. Text fields pass importing.text_problem (read_rows).

Re-importing changes nothing: an order already stored for a report with the same issued_at,
deadline and authority is `unchanged`; the same order_id for the same report with any of
those different is a row error (an order is amended by the authority under a new id). All good
rows go in one transaction (`importing.writing`; a dry run rolls it back and counts the same),
and the touched reports' `next_check_at` is refreshed in it, so a crawl checks each order at
its deadline slots (monitor.core.schedule.order_slots).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from monitor.core import clock
from monitor.core.config import Config
from monitor.core.urls import UrlError, clean, key
from monitor.intake.common import ImportResult, read_rows, writing
from monitor.intake.reports import FUTURE_SLACK, MAX_REFERENCE, RowInvalid
from monitor.intake.reports import _time as read_time
from monitor.store import summary

COLUMNS = ("url", "reference", "order_id", "issued_at", "deadline", "authority")
REQUIRED = ("order_id", "issued_at", "deadline")
MAX_TEXT = 200
MAX_DEADLINE = timedelta(days=90)


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    authority: str | None
    issued_at: str
    deadline_at: str
    url_key: str | None
    reference: str | None


def _text(
    values: dict[str, str], name: str, *, required: bool = False, limit: int = MAX_TEXT
) -> str | None:
    value = values.get(name, "").strip()
    if not value:
        if required:
            raise RowInvalid(f"{name}: missing")
        return None
    if len(value) > limit:
        raise RowInvalid(f"{name}: longer than {limit} characters")
    return value


def parse_row(values: dict[str, str], zone_less: list[int], latest: datetime) -> OrderRow:
    order_id = _text(values, "order_id", required=True)
    authority = _text(values, "authority")
    reference = _text(values, "reference", limit=MAX_REFERENCE)
    url_key = None
    raw_url = values.get("url", "").strip()
    if raw_url:
        try:
            url_key = key(clean(raw_url))
        except UrlError as exc:
            raise RowInvalid(f"url: {exc}") from None
    if url_key is None and reference is None:
        raise RowInvalid("url or reference: one is required")
    issued = read_time(values.get("issued_at", ""), "issued_at", zone_less, latest)
    if issued is None:
        raise RowInvalid("issued_at: missing")
    raw = values.get("deadline", "").strip()
    if not raw:
        raise RowInvalid("deadline: missing")
    try:
        deadline = issued + clock.duration(raw)
    except clock.TimeFormatError:
        deadline = _deadline_time(raw, zone_less)
    if deadline <= issued:
        raise RowInvalid("deadline: not after issued_at")
    if deadline - issued > MAX_DEADLINE:
        raise RowInvalid(f"deadline: more than {MAX_DEADLINE.days} days after issued_at")
    return OrderRow(
        order_id,  # type: ignore[arg-type]
        authority,
        clock.iso(issued),
        clock.iso(deadline),
        url_key,
        reference,
    )


def _deadline_time(raw: str, zone_less: list[int]) -> datetime:
    try:
        try:
            return clock.parse(raw)
        except clock.TimeFormatError as exc:
            if "without a zone" not in str(exc):
                raise
            zone_less[0] += 1
            return clock.parse(raw, assume_utc=True)
    except clock.TimeFormatError:
        raise RowInvalid(
            f"deadline: neither a duration (1h, 24h, 5d) nor an ISO-8601 time: {raw[:40]!r}"
        ) from None


def _reports(db: Database, row: OrderRow) -> list[int]:
    """The report ids the row names (RowInvalid when none, or when url and reference differ)."""
    by_url = by_ref = None
    if row.url_key is not None:
        by_url = [
            r[0] for r in db.execute("SELECT id FROM reports WHERE url_key = ?", [row.url_key])
        ]
        if not by_url:
            raise RowInvalid("url: no report with this URL")
    if row.reference is not None:
        by_ref = [
            r[0]
            for r in db.execute(
                "SELECT id FROM reports WHERE reference = ? ORDER BY id", [row.reference]
            )
        ]
        if not by_ref:
            raise RowInvalid("reference: no report with this reference")
    if by_url is not None and by_ref is not None and not set(by_url) <= set(by_ref):
        raise RowInvalid("url and reference name different reports")
    return by_url if by_url is not None else by_ref  # type: ignore[return-value]


def _add(
    db: Database, row: OrderRow, report_ids: list[int], stamp: str, result: ImportResult
) -> list[int]:
    """Insert the row's orders; the ids added. RowInvalid (nothing written) on a conflict."""
    marks = ",".join("?" * len(report_ids))
    stored = {
        rid: (issued, deadline, authority)
        for rid, issued, deadline, authority in db.execute(
            f"SELECT report_id, issued_at, deadline_at, authority FROM orders "
            f"WHERE order_id = ? AND report_id IN ({marks})",
            [row.order_id, *report_ids],
        )
    }
    want = (row.issued_at, row.deadline_at, row.authority)
    for rid, have in stored.items():
        if have != want:
            field = ("issued_at", "deadline", "authority")[
                next(i for i in range(3) if have[i] != want[i])
            ]
            raise RowInvalid(
                f"order {row.order_id} is already stored for report {rid} with "
                f"another {field} (a changed order needs a new order_id)"
            )
    new = [rid for rid in report_ids if rid not in stored]
    db.conn.executemany(
        "INSERT INTO orders (order_id, report_id, authority, issued_at, deadline_at, "
        "imported_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(row.order_id, rid, row.authority, row.issued_at, row.deadline_at, stamp) for rid in new],
    )
    result.added += len(new)
    result.unchanged += len(stored)
    return new


def import_orders(
    db: Database, path: str | Path, config: Config, *, dry_run: bool = False
) -> ImportResult:
    """Import an orders file (see the module docstring); counts are per order and report."""
    result = ImportResult(file=str(path), dry_run=dry_run)
    imported_at = clock.now()
    latest = imported_at + FUTURE_SLACK
    stamp = clock.iso(imported_at)
    zone_less = [0]
    touched: set[int] = set()
    many = 0
    with writing(db, dry_run):
        for raw in read_rows(path, COLUMNS, REQUIRED):
            result.read += 1
            if raw.problem:
                result.error(raw.line, raw.problem)
                continue
            try:
                row = parse_row(raw.values, zone_less, latest)
                report_ids = _reports(db, row)
                touched.update(_add(db, row, report_ids, stamp, result))
            except RowInvalid as exc:
                result.error(raw.line, str(exc))
                continue
            many += len(report_ids) > 1
        if touched:
            summary.refresh(db, touched, config.takedown, config.schedule, now=imported_at)
    if many:
        result.notes.append(
            f"{many} row(s) named a reference held by several reports: one order per report"
        )
    if zone_less[0]:
        result.notes.append(f"{zone_less[0]} time(s) had no zone and were read as UTC")
    return result
