"""Reading import files row by row: CSV or JSON Lines, streamed, with a line number per row.

Shared by every importer. A file-level problem (missing required column, unknown column,
unreadable file) raises `ImportFileError`; a row-level problem becomes a `RowError`
(`file:line: reason`) and the row is skipped. Broken encodings and NUL bytes are row errors,
not crashes. Memory stays constant: rows are yielded one at a time.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

MAX_ERRORS_KEPT = 200


class ImportFileError(ValueError):
    """The file as a whole cannot be imported."""


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class ImportResult:
    """What an import did. `errors` keeps the first MAX_ERRORS_KEPT; `bad` counts all."""

    file: str
    read: int = 0
    added: int = 0
    unchanged: int = 0
    bad: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def error(self, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(RowError(self.file, line, reason))

    @property
    def ok(self) -> bool:
        return self.bad == 0


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]
    problem: str | None = None  # set when the raw line itself was unreadable


def _lines(fh: IO[bytes], broken: dict[int, str]) -> Iterator[str]:
    for number, raw in enumerate(fh, 1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if b"\x00" in raw:
            broken[number] = "line contains NUL bytes"
            raw = raw.replace(b"\x00", b"")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            broken[number] = f"not valid UTF-8 (byte {exc.start + 1})"
            yield raw.decode("utf-8", "replace")


def detect_format(path: Path, fh: IO[bytes]) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt"):
        return "csv"
    head = fh.peek(64)[:64] if hasattr(fh, "peek") else b""
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def read_rows(path: str | Path, columns: Iterable[str], required: Iterable[str]) -> Iterator[Row]:
    """Yield the rows of a CSV or JSON Lines file, keyed by known column names."""
    path = Path(path)
    known = list(columns)
    needed = list(required)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        fmt = detect_format(path, fh)  # type: ignore[arg-type]
        broken: dict[int, str] = {}
        lines = _lines(fh, broken)  # type: ignore[arg-type]
        if fmt == "jsonl":
            yield from _jsonl_rows(lines, known, broken)
        else:
            yield from _csv_rows(path, lines, known, needed, broken)


def _check_header(path: Path, header: list[str], known: list[str], needed: list[str]) -> None:
    unknown = [h for h in header if h not in known]
    if unknown:
        raise ImportFileError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"expected some of: {','.join(known)}")
    missing = [n for n in needed if n not in header]
    if missing:
        raise ImportFileError(f"{path}: missing required column(s): {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise ImportFileError(f"{path}: a column name appears twice in the header")


def _csv_rows(path: Path, lines: Iterator[str], known: list[str], needed: list[str],
              broken: dict[int, str]) -> Iterator[Row]:
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}: unreadable CSV header: {exc}") from None
    if 1 in broken:
        raise ImportFileError(f"{path}:1: header {broken[1]}")
    header = [h.strip().lower() for h in header]
    _check_header(path, header, known, needed)
    width = len(header)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Row(reader.line_num, {}, f"unreadable CSV: {exc}")
            continue
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if line in broken:
            yield Row(line, {}, broken.pop(line))
            continue
        if len(fields) != width:
            yield Row(line, {}, f"expected {width} fields, found {len(fields)}")
            continue
        yield Row(line, dict(zip(header, fields, strict=True)))


def _jsonl_rows(lines: Iterator[str], known: list[str], broken: dict[int, str]) -> Iterator[Row]:
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        if number in broken:
            yield Row(number, {}, broken.pop(number))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Row(number, {}, f"not valid JSON: {exc.msg}")
            continue
        if not isinstance(obj, dict):
            yield Row(number, {}, "a JSON Lines row must be an object")
            continue
        unknown = [k for k in obj if k not in known]
        if unknown:
            yield Row(number, {}, f"unknown field(s) {', '.join(map(repr, unknown))}")
            continue
        values = {k: "" if v is None else str(v) for k, v in obj.items()}
        yield Row(number, values)
