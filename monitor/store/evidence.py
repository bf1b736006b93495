"""The evidence chain in the database: appending, verifying, and selecting a bundle's rows.

`append` chains every check row after the head in id order (the writer calls it inside the
transaction that inserted the rows, so a slot that `INSERT OR IGNORE` skipped never advances the
chain; migration m007 calls it to back-fill). `verify_db` streams the whole table through
`evidence.ChainVerifier` in constant memory. `bundle_rows` selects the observations an export
signs (monitor.core.evidence_bundle), refusing rows whose chain does not hold.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from monitor.core import evidence
from monitor.core.evidence import FIELDS, GENESIS, Break, ChainVerifier, Head
from monitor.store.sql import in_list

CHUNK = 20_000
NO_CHAIN = (
    "this database has no evidence chain yet (schema older than 7); run "
    "`ntd-monitor init` to migrate it (the migration back-fills the chain)"
)

_COLUMNS = (
    "c.id, c.report_id, r.url, c.due_at, c.checked_at, c.outcome, c.reason, "
    "c.http_status, c.final_url, c.redirects, c.ip, c.content_type, c.size, "
    "c.elapsed_ms, c.algorithm, c.distance"
)
_ROWS = f"SELECT {_COLUMNS} FROM checks c LEFT JOIN reports r ON r.id = c.report_id"
_VERIFY = (
    f"SELECT {_COLUMNS}, c.chain_hash, c.chain_prev FROM checks c "
    "LEFT JOIN reports r ON r.id = c.report_id ORDER BY c.id"
)
_KEYS = (*FIELDS, "chain_hash", "chain_prev")


class ExportError(ValueError):
    """Nothing to export: no such order or hoster (bad input)."""


class NoChain(ValueError):
    """A database from before the chain (schema < 7, opened read-only): migrate it first."""


class ChainBroken(RuntimeError):
    """A row to export does not hold in the chain (run `evidence verify`)."""


def read_head(conn: sqlite3.Connection) -> Head | None:
    """The recorded head, or None on a database from before the chain (schema < 7)."""
    try:
        row = conn.execute("SELECT last_id, hash, count FROM evidence_head WHERE id = 1").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return Head(*row) if row else None


def append(conn: sqlite3.Connection, *, chunk: int = CHUNK) -> int:
    """Chain the rows after the head, in id order; returns how many. Call inside the
    transaction that inserted them."""
    last_id, prev, count = conn.execute(
        "SELECT last_id, hash, count FROM evidence_head WHERE id = 1"
    ).fetchone()
    added = 0
    step, canonical = evidence.step, evidence.canonical
    while True:
        rows = conn.execute(
            f"{_ROWS} WHERE c.id > ? ORDER BY c.id LIMIT ?", [last_id, chunk]
        ).fetchall()
        if not rows:
            break
        updates = []
        for row in rows:
            digest = step(canonical(dict(zip(FIELDS, row, strict=True))), prev)
            updates.append((digest, prev, row[0]))
            prev = digest
        conn.executemany("UPDATE checks SET chain_hash = ?, chain_prev = ? WHERE id = ?", updates)
        last_id = rows[-1][0]
        added += len(rows)
        if len(rows) < chunk:
            break
    if added:
        conn.execute(
            "UPDATE evidence_head SET last_id = ?, hash = ?, count = ? WHERE id = 1",
            [last_id, prev, count + added],
        )
    return added


@dataclass
class Verified:
    """What `verify_db` found: rows read, the recorded head, and the breaks (first ones)."""

    count: int = 0
    head: Head | None = None
    breaks: list[Break] = field(default_factory=list)
    total_breaks: int = 0

    @property
    def intact(self) -> bool:
        return self.total_breaks == 0


def verify_db(conn: sqlite3.Connection, *, keep: int = 10) -> Verified:
    """Re-compute the whole chain (streaming) and compare it with the head."""
    out = Verified(head=read_head(conn))
    if out.head is None:
        raise NoChain(NO_CHAIN)
    verifier = ChainVerifier()
    with _snapshot(conn):  # one snapshot, even while a crawl writes
        out.head = read_head(conn)
        for row in conn.execute(_VERIFY):
            found = verifier.feed(dict(zip(_KEYS, row, strict=True)))
            if found is not None:
                _keep(out, found, keep)
        end = verifier.finish(out.head)
    if end is not None:
        _keep(out, end, keep)
    out.count = verifier.count
    return out


def _keep(out: Verified, found: Break, keep: int) -> None:
    out.total_breaks += 1
    if len(out.breaks) < keep:
        out.breaks.append(found)


@dataclass
class Selection:
    """What an export covers: its scope, the orders and reports, the chained rows, the head."""

    scope: dict[str, str]
    orders: list[dict[str, Any]]
    reports: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    head: Head


def select(
    conn: sqlite3.Connection, *, order: str | None = None, hoster: str | None = None
) -> Selection:
    """The rows of an order's reports or of a hoster's reports, each with its chain link."""
    head = read_head(conn)
    if head is None:
        raise NoChain(NO_CHAIN)
    with _snapshot(conn):
        if order is not None:
            scope, orders = {"order": order}, _orders(conn, order)
            report_ids = sorted({o["report_id"] for o in orders})
        else:
            scope, orders = {"hoster": str(hoster)}, []
            report_ids = _hoster_reports(conn, str(hoster))
        reports = _reports(conn, report_ids)
        rows = list(_chained_rows(conn, report_ids))
        head = read_head(conn) or head
    return Selection(scope, orders, reports, rows, head)


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction (one consistent view), unless the caller is already in one."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _orders(conn: sqlite3.Connection, order_id: str) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT o.order_id, o.report_id, r.url, o.authority, o.issued_at, o.deadline_at "
        "FROM orders o JOIN reports r ON r.id = o.report_id WHERE o.order_id = ? "
        "ORDER BY o.report_id",
        [order_id],
    )
    names = [d[0] for d in cur.description]
    found = [dict(zip(names, row, strict=True)) for row in cur]
    if not found:
        raise ExportError(
            f"no order {order_id!r} in the database (`ntd-monitor import orders FILE` adds them)"
        )
    return found


def _hoster_reports(conn: sqlite3.Connection, name: str) -> list[int]:
    row = conn.execute("SELECT id FROM hosters WHERE name = ?", [name]).fetchone()
    if row is None:
        known = [r[0] for r in conn.execute("SELECT name FROM hosters ORDER BY name LIMIT 8")]
        hint = (
            f" (hosters: {', '.join(known)}{', ...' if len(known) == 8 else ''})"
            if known
            else " (no hosters yet)"
        )
        raise ExportError(f"no hoster named {name!r}{hint}")
    hid = row[0]
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT report_id FROM checks WHERE hoster_id = ? UNION "
            "SELECT id FROM reports WHERE hoster_id = ? OR notified_hoster_id = ? ORDER BY 1",
            [hid, hid, hid],
        )
    ]
    if not ids:
        raise ExportError(f"hoster {name!r} has no reports and no attributed checks yet")
    return ids


def _reports(conn: sqlite3.Connection, ids: list[int]) -> list[dict[str, Any]]:
    out = []
    for part in _parts(ids):
        cur = conn.execute(
            "SELECT id, url, reference, reported_at, noticed_at FROM reports "
            f"WHERE id IN ({part}) ORDER BY id"
        )
        out += [
            dict(zip(("id", "url", "reference", "reported_at", "noticed_at"), r, strict=True))
            for r in cur
        ]
    return out


def _chained_rows(conn: sqlite3.Connection, report_ids: list[int]) -> Iterator[dict[str, Any]]:
    rows: list[tuple] = []
    for part in _parts(report_ids):
        rows += conn.execute(
            f"SELECT {_COLUMNS}, c.chain_hash, c.chain_prev, c.asn, c.asns, c.prefix, h.name "
            "FROM checks c LEFT JOIN reports r ON r.id = c.report_id "
            f"LEFT JOIN hosters h ON h.id = c.hoster_id WHERE c.report_id IN ({part})"
        ).fetchall()
    rows.sort(key=lambda r: r[0])
    before = "SELECT id, chain_hash FROM checks WHERE id < ? ORDER BY id DESC LIMIT 1"
    for row in rows:
        check = dict(zip(FIELDS, row[: len(FIELDS)], strict=True))
        chain_hash, chain_prev, asn, asns, prefix, hoster = row[len(FIELDS) :]
        prev_row = conn.execute(before, [check["id"]]).fetchone()
        prev_id, prev = prev_row if prev_row else (None, GENESIS)
        if not chain_hash or chain_prev != prev or evidence.link(check, prev) != chain_hash:
            raise ChainBroken(
                f"check {check['id']} ({check['url']}) does not hold in the "
                "chain; run `ntd-monitor evidence verify` (nothing was signed)"
            )
        yield {
            "check": evidence.check_object(check),
            "prev_id": prev_id,
            "prev": prev,
            "hash": chain_hash,
            "attribution": {"asn": asn, "asns": _asns(asns), "prefix": prefix, "hoster": hoster},
        }


def _asns(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _parts(ids: list[int], size: int = 500) -> Iterator[str]:
    for start in range(0, len(ids), size):
        yield in_list(ids[start : start + size])
