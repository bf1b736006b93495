"""Reading import files row by row: CSV or JSON Lines, streamed, with a line number per row.

Shared by every importer. A file-level problem (missing required column, unknown column,
unreadable file) raises `ImportFileError`; a row-level problem becomes a `RowError`
(`file:line: reason`) and the row is skipped. Broken encodings and NUL bytes are row errors,
not crashes. Memory stays constant: rows are yielded one at a time.

Every text field of every importer passes one check here (`text_problem`): control characters
(C0, DEL, C1: CR/LF would split an e-mail header or a log line), unpaired surrogates, Unicode
line/paragraph separators and bidi overrides/isolates are refused with the column and the code
point, never echoed. `writing()` is the one transaction of an import; a dry run does the same
writes and rolls them back, so it reports exactly what a real run would do.

Columns an importer names as `signatures` may hold a video signature's text (hashes.video_text):
its lines in one quoted CSV cell (each line passes the text check; line ends are allowed there),
a cell of up to hashes.video_text.MAX_TEXT characters (the csv module's field size limit is
raised to that while such a file's rows are read: hashes.lists.wide_fields), and in JSON Lines
a JSON object or list (python-threatexchange's form), passed on as its JSON text.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from sqlite_utils import Database

from hashes.lists import wide_fields
from monitor import store
from monitor.core.text import text_problem

MAX_ERRORS_KEPT = 200
_LINE_END = re.compile(r"\r?\n")
T = TypeVar("T")


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


def _checked(line: int, values: dict[str, str], signatures: frozenset[str] = frozenset()) -> Row:
    for column, value in values.items():
        if column in signatures:  # each line of a multi-line signature cell
            problem = next(filter(None, map(text_problem, _LINE_END.split(value))), None)
        else:
            problem = text_problem(value)
        if problem:
            return Row(line, {}, f"{column}: {problem}")
    return Row(line, values)


@contextmanager
def writing(db: Database, dry_run: bool) -> Iterator[Database]:
    """One transaction for an import; a dry run rolls its writes back (same counts, no trace)."""
    with store.transaction(db):
        if not dry_run:
            yield db
            return
        db.conn.execute("SAVEPOINT import_dry_run")
        try:
            yield db
        finally:
            db.conn.execute("ROLLBACK TO import_dry_run")
            db.conn.execute("RELEASE import_dry_run")


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
        elif b"\r" in raw.removesuffix(b"\n").removesuffix(b"\r"):
            broken[number] = "line contains a carriage return (U+000D)"
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            broken[number] = f"not valid UTF-8 (byte {exc.start + 1})"
            yield raw.decode("utf-8", "replace")


def parsed_rows(
    path: str | Path,
    columns: Iterable[str],
    required: Iterable[str],
    parse: Callable[[dict[str, str]], T],
    invalid: type[Exception],
    result: ImportResult,
) -> list[T]:
    """Every row of a small file (a registry) parsed by `parse`; unreadable rows and rows
    whose parse raises `invalid` become row errors in `result`, the rest are returned."""
    out: list[T] = []
    for row in read_rows(path, columns, required):
        result.read += 1
        if row.problem:
            result.error(row.line, row.problem)
            continue
        try:
            out.append(parse(row.values))
        except invalid as exc:
            result.error(row.line, str(exc))
    return out


def detect_format(path: Path, fh: IO[bytes]) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt"):
        return "csv"
    head = fh.peek(64)[:64] if hasattr(fh, "peek") else b""
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def read_rows(
    path: str | Path,
    columns: Iterable[str],
    required: Iterable[str],
    *,
    signatures: Iterable[str] = (),
) -> Iterator[Row]:
    """Yield the rows of a CSV or JSON Lines file, keyed by known column names; `signatures`:
    the columns that may hold a video signature's text (module docstring)."""
    path = Path(path)
    known = list(columns)
    needed = list(required)
    wide = frozenset(signatures)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        fmt = detect_format(path, fh)  # type: ignore[arg-type]
        broken: dict[int, str] = {}
        lines = _lines(fh, broken)  # type: ignore[arg-type]
        if fmt == "jsonl":
            yield from _jsonl_rows(lines, known, broken, wide)
        else:
            yield from _csv_rows(path, lines, known, needed, broken, wide)


def _check_header(path: Path, header: list[str], known: list[str], needed: list[str]) -> None:
    unknown = [h for h in header if h not in known]
    if unknown:
        raise ImportFileError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"expected some of: {','.join(known)}"
        )
    missing = [n for n in needed if n not in header]
    if missing:
        raise ImportFileError(f"{path}: missing required column(s): {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise ImportFileError(f"{path}: a column name appears twice in the header")


def _csv_rows(
    path: Path,
    lines: Iterator[str],
    known: list[str],
    needed: list[str],
    broken: dict[int, str],
    wide: frozenset[str] = frozenset(),
) -> Iterator[Row]:
    reader = csv.reader(lines, strict=True)
    limit = wide_fields if wide else nullcontext
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
        line = reader.line_num + 1  # a quoted field may span lines: name the record's first
        try:
            with limit():
                fields: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            fields, problem = None, f"unreadable CSV: {exc}"
        bad = [n for n in range(line, reader.line_num + 1) if n in broken]
        if bad:
            yield Row(line, {}, broken.pop(bad[0]))
            continue
        if fields is None:
            yield Row(line, {}, problem)
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != width:
            yield Row(line, {}, f"expected {width} fields, found {len(fields)}")
            continue
        yield _checked(line, dict(zip(header, fields, strict=True)), wide)


def _jsonl_rows(
    lines: Iterator[str],
    known: list[str],
    broken: dict[int, str],
    wide: frozenset[str] = frozenset(),
) -> Iterator[Row]:
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
        except (ValueError, RecursionError):  # a 5000-digit number, [[[[...]]]] nested too deep
            yield Row(number, {}, "not valid JSON: a number too long or nesting too deep")
            continue
        if not isinstance(obj, dict):
            yield Row(number, {}, "a JSON Lines row must be an object")
            continue
        unknown = [k for k in obj if k not in known]
        if unknown:
            yield Row(number, {}, f"unknown field(s) {', '.join(map(repr, unknown))}")
            continue
        nested = [k for k, v in obj.items() if isinstance(v, dict | list) and k not in wide]
        if nested:
            yield Row(
                number,
                {},
                f"{nested[0]}: must be a string or a number, not a {type(obj[nested[0]]).__name__}",
            )
            continue
        values = {k: _cell(v) for k, v in obj.items()}
        yield _checked(number, values, wide)


def _cell(value: object) -> str:
    """A JSON Lines value as the text of a cell (an object or list: its JSON, for a signature)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
