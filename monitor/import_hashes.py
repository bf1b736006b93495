"""`import hashes FILE --list NAME`: a hash list (CSV `algorithm,hash,label`) into the store.

Lists have a name and a source; an allowlist holds known-benign hashes (stock images, CMS
defaults) that must never match. Rows are validated (known algorithm, hex of the right length),
de-duplicated within the list, and written in one transaction; re-importing changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from hashes.formats import HashFormatError, normalize
from monitor import clock, store
from monitor.importing import ImportResult, read_rows

COLUMNS = ("algorithm", "hash", "label")
CHUNK = 5000


def import_hashes(db: Database, path: str | Path, list_name: str, *, source: str | None = None,
                  allowlist: bool = False, dry_run: bool = False) -> ImportResult:
    name = list_name.strip()
    if not name:
        raise ValueError("the list needs a name (--list NAME)")
    result = ImportResult(file=str(path), dry_run=dry_run)
    conn = db.conn
    with store.transaction(db):
        row = conn.execute("SELECT id, allowlist FROM hash_lists WHERE name = ?",
                           [name]).fetchone()
        if row is None:
            list_id = None if dry_run else conn.execute(
                "INSERT INTO hash_lists (name, source, allowlist, created_at) VALUES (?,?,?,?)",
                [name, source or str(path), int(allowlist), clock.now_iso()]).lastrowid
        else:
            list_id = row[0]
            if bool(row[1]) != allowlist:
                kind = "an allowlist" if row[1] else "not an allowlist"
                raise ValueError(f"list {name!r} exists and is {kind}; use another name")
        chunk: list[tuple] = []

        def flush() -> None:
            if not dry_run and chunk:
                before = conn.total_changes
                conn.executemany("INSERT OR IGNORE INTO known_hashes (list_id, algorithm, hash, "
                                 "label) VALUES (?, ?, ?, ?)", chunk)
                added = conn.total_changes - before
                result.added += added
                result.unchanged += len(chunk) - added
            elif dry_run:
                result.added += len(chunk)
            chunk.clear()

        for item in read_rows(path, COLUMNS, ("algorithm", "hash")):
            result.read += 1
            if item.problem:
                result.error(item.line, item.problem)
                continue
            try:
                algorithm, value = normalize(item.values.get("algorithm", ""),
                                             item.values.get("hash", ""))
            except HashFormatError as exc:
                result.error(item.line, str(exc))
                continue
            label = item.values.get("label", "").strip() or None
            chunk.append((list_id, algorithm, value, label))
            if len(chunk) >= CHUNK:
                flush()
        flush()
    return result
