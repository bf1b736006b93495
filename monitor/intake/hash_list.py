"""`import hashes FILE --list NAME`: a hash list (CSV `algorithm,hash,label`) into the store.

Lists have a name and a source; an allowlist holds known-benign hashes (stock images, CMS
defaults) that must never match. A `vpdq` row's hash is a video signature in any form
hashes.video_text reads (frame lines ";"-joined or one per line in a quoted cell,
python-threatexchange's JSON as a quoted string, or in JSON Lines as an object), stored in its
canonical text. Rows are validated (known algorithm, hex of the right length, a readable
signature),
de-duplicated within the list, and written in one transaction; re-importing changes nothing.
Labels pass the shared text check and are at most 200 characters. A dry run makes the same
writes and rolls them back, so its counts are a real run's.
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from hashes.formats import HashFormatError, normalize
from monitor.core import clock
from monitor.intake.common import ImportResult, read_rows, text_problem, writing

COLUMNS = ("algorithm", "hash", "label")
CHUNK = 5000
CHUNK_CHARS = 32 * 1024 * 1024  # also flushed at this much hash text (video signatures are long)
MAX_LABEL = 200


def import_hashes(
    db: Database,
    path: str | Path,
    list_name: str,
    *,
    source: str | None = None,
    allowlist: bool = False,
    dry_run: bool = False,
) -> ImportResult:
    name = list_name.strip()
    if not name:
        raise ValueError("the list needs a name (--list NAME)")
    if len(name) > MAX_LABEL:
        raise ValueError(f"the list name is longer than {MAX_LABEL} characters")
    problem = text_problem(name)
    if problem:
        raise ValueError(f"the list name {problem}")
    result = ImportResult(file=str(path), dry_run=dry_run)
    conn = db.conn
    with writing(db, dry_run):
        row = conn.execute("SELECT id, allowlist FROM hash_lists WHERE name = ?", [name]).fetchone()
        if row is None:
            list_id = conn.execute(
                "INSERT INTO hash_lists (name, source, allowlist, created_at) VALUES (?,?,?,?)",
                [name, source or str(path), int(allowlist), clock.now_iso()],
            ).lastrowid
        else:
            list_id = row[0]
            if bool(row[1]) != allowlist:
                kind = "an allowlist" if row[1] else "not an allowlist"
                raise ValueError(f"list {name!r} exists and is {kind}; use another name")
        chunk: list[tuple] = []
        size = [0]  # characters of hash text in `chunk`

        def flush() -> None:
            if chunk:
                before = conn.total_changes
                conn.executemany(
                    "INSERT OR IGNORE INTO known_hashes (list_id, algorithm, hash, "
                    "label) VALUES (?, ?, ?, ?)",
                    chunk,
                )
                added = conn.total_changes - before
                result.added += added
                result.unchanged += len(chunk) - added
            chunk.clear()
            size[0] = 0

        for item in read_rows(path, COLUMNS, ("algorithm", "hash"), signatures=("hash",)):
            result.read += 1
            if item.problem:
                result.error(item.line, item.problem)
                continue
            try:
                algorithm, value = normalize(
                    item.values.get("algorithm", ""), item.values.get("hash", "")
                )
            except HashFormatError as exc:
                result.error(item.line, str(exc))
                continue
            label = item.values.get("label", "").strip() or None
            if label and len(label) > MAX_LABEL:
                result.error(item.line, f"label longer than {MAX_LABEL} characters")
                continue
            chunk.append((list_id, algorithm, value, label))
            size[0] += len(value)
            if len(chunk) >= CHUNK or size[0] >= CHUNK_CHARS:
                flush()
        flush()
    return result
