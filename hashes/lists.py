"""Hash list files: CSV `algorithm,hash,label`, read as a stream and written back.

`iter_rows` is a generator (constant memory whatever the file size): it yields a `ListEntry`
for every good row and a `ListError(line, reason)` for every bad one, with physical line
numbers. A header row `algorithm,hash,label`, blank lines and lines starting with `#` are
skipped. `unique` drops repeated (algorithm, hash) pairs (it remembers the pairs it has seen,
so its memory grows with the number of distinct hashes). `read` collects both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hashes.formats import HashFormatError, normalize

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
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield ListError(reader.line_num, f"bad CSV: {exc}")
            continue
        line = reader.line_num
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
            key = (row.algorithm, bytes.fromhex(row.hash))
            if key in seen:
                continue
            seen.add(key)
        yield row


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
