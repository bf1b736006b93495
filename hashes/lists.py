"""Hash list files: CSV `algorithm,hash,label`, read as a stream and written back.

`iter_rows` is a generator (constant memory whatever the file size): it yields a `ListEntry`
for every good row and a `ListError(line, reason)` for every bad one, with physical line
numbers (a row whose quoted cell spans lines is named by its first). A header row
`algorithm,hash,label`, blank lines and lines starting with `#` are skipped. `unique` drops
repeated (algorithm, hash) pairs (it remembers the pairs it has seen, so its memory grows with
the number of distinct hashes). `read` collects both.

A `vpdq` row's hash cell is a video signature's text in any form hashes.video_text reads (its
frame lines ";"-joined or one per line in a quoted cell, or python-threatexchange's JSON); it is
kept in the canonical stored form, de-duplicated by the SHA-256 of that text. Such a cell may be
up to hashes.video_text.MAX_TEXT characters: `wide_fields` raises the csv module's field size
limit to that while a row is read, and only then.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hashes.formats import VIDEO_ALGORITHMS, HashFormatError, normalize
from hashes.video_text import MAX_TEXT

HEADER = ("algorithm", "hash", "label")


@dataclass(frozen=True)
class ListEntry:
    algorithm: str
    hash: str
    label: str | None
    line: int = 0


@dataclass(frozen=True)
class ListError:
    line: int
    reason: str


@contextmanager
def wide_fields(limit: int = MAX_TEXT) -> Iterator[None]:
    """The csv module's field size limit (a process-wide setting) at least `limit` for the
    duration of the block, then as it was: wrap each read of a row, not a whole generator."""
    old = csv.field_size_limit()
    if old >= limit:
        yield
        return
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def iter_rows(source: str | Path | TextIO) -> Iterator[ListEntry | ListError]:
    """Stream the rows of a hash list CSV (a path or an open text file)."""
    if isinstance(source, (str, Path)):
        with open(source, newline="", encoding="utf-8-sig") as f:
            yield from _rows(f)
    else:
        yield from _rows(source)


def _rows(f: TextIO) -> Iterator[ListEntry | ListError]:
    reader = csv.reader(f)
    first = True
    line = 0
    while True:
        line = reader.line_num + 1  # a quoted cell may span lines: name the row's first
        try:
            with wide_fields():
                row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield ListError(line, f"bad CSV: {exc}")
            continue
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if first and tuple(c.lower() for c in cells[:2]) == HEADER[:2]:
            first = False
            continue
        first = False
        if len(cells) < 2 or len(cells) > 3:
            yield ListError(
                line, f"expected 2 or 3 columns (algorithm,hash,label), got {len(cells)}"
            )
            continue
        try:
            algorithm, value = normalize(cells[0], cells[1])
        except HashFormatError as exc:
            yield ListError(line, str(exc))
            continue
        label = cells[2] if len(cells) == 3 and cells[2] else None
        yield ListEntry(algorithm, value, label, line)


def unique(rows: Iterable[ListEntry | ListError]) -> Iterator[ListEntry | ListError]:
    """Pass rows through, dropping entries whose (algorithm, hash) was already seen."""
    seen: set[tuple[str, bytes]] = set()
    for row in rows:
        if isinstance(row, ListEntry):
            key = (row.algorithm, _key(row.algorithm, row.hash))
            if key in seen:
                continue
            seen.add(key)
        yield row


def _key(algorithm: str, value: str) -> bytes:
    """What identifies a hash: its bytes, or for a video signature the digest of its text."""
    if algorithm in VIDEO_ALGORITHMS:
        return hashlib.sha256(value.encode()).digest()
    return bytes.fromhex(value)


def read(
    source: str | Path | TextIO, *, dedupe: bool = True
) -> tuple[list[ListEntry], list[tuple[int, str]]]:
    """All good entries (de-duplicated by default) and the errors as (line, reason)."""
    rows = iter_rows(source)
    entries: list[ListEntry] = []
    errors: list[tuple[int, str]] = []
    for row in unique(rows) if dedupe else rows:
        if isinstance(row, ListError):
            errors.append((row.line, row.reason))
        else:
            entries.append(row)
    return entries, errors


def write(
    entries: Iterable[ListEntry | tuple[str, str, str | None]], dest: str | Path | TextIO
) -> int:
    """Write a hash list CSV with a header; returns the number of rows written."""
    if isinstance(dest, (str, Path)):
        with open(dest, "w", newline="", encoding="utf-8") as f:
            return write(entries, f)
    writer = csv.writer(dest, lineterminator="\n")
    writer.writerow(HEADER)
    n = 0
    for e in entries:
        algorithm, value, label = (e.algorithm, e.hash, e.label) if isinstance(e, ListEntry) else e
        name, hx = normalize(algorithm, value)
        writer.writerow([name, hx, label or ""])
        n += 1
    return n


def parse_text(text: str) -> tuple[list[ListEntry], list[tuple[int, str]]]:
    """`read` of CSV text in memory."""
    return read(io.StringIO(text))
