"""hashes.lists: hash list CSV streaming, validation with line numbers, de-dup, round trip."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from hashes.lists import ListEntry, ListError, iter_rows, parse_text, read, unique, write

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


def test_read_validates_with_line_numbers() -> None:
    text = (
        "algorithm,hash,label\n"
        f"pdq,{PDQ},bridge\n"
        "\n"
        "# a comment\n"
        "PHASH, 0xA3B2C6A1FAC6B950 ,\n"
        "md5,123,short\n"
        "photodna,00ff,unknown algorithm\n"
        "sha1\n"
        f"pdq,{PDQ.upper()},duplicate\n"
        'md5,d41d8cd98f00b204e9800998ecf8427e,"label, with comma"\n'
    )
    entries, errors = parse_text(text)
    assert entries == [
        ListEntry("pdq", PDQ, "bridge", 2),
        ListEntry("phash", "a3b2c6a1fac6b950", None, 5),
        ListEntry("md5", "d41d8cd98f00b204e9800998ecf8427e", "label, with comma", 10),
    ]
    assert [line for line, _ in errors] == [6, 7, 8]
    assert "32 hex digits" in errors[0][1] and "unknown hash algorithm" in errors[1][1]


def test_no_header_and_no_dedupe(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text(f"pdq,{PDQ}\npdq,{PDQ}\n")
    entries, errors = read(path, dedupe=False)
    assert len(entries) == 2 and errors == []
    assert len(read(path)[0]) == 1


def test_round_trip(tmp_path: Path) -> None:
    rows = [ListEntry("pdq", PDQ, "a"), ListEntry("sha1", "a" * 40, None)]
    assert write(rows, tmp_path / "out.csv") == 2
    back, errors = read(tmp_path / "out.csv")
    assert errors == [] and [(e.algorithm, e.hash, e.label) for e in back] == [
        ("pdq", PDQ, "a"),
        ("sha1", "a" * 40, None),
    ]


def test_streaming_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w") as f:
        f.write("algorithm,hash,label\n")
        for i in range(50_000):
            f.write(f"md5,{i:032x},item\n")
    tracemalloc.start()
    rows: Iterator = iter_rows(path)
    count = sum(1 for r in rows if isinstance(r, ListEntry))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 50_000
    assert peak < 500_000  # the file is ~2.3 MB; streaming keeps only a few rows


def test_unique_keeps_errors_and_first() -> None:
    rows = [
        ListEntry("md5", "0" * 32, "first", 1),
        ListError(2, "bad"),
        ListEntry("md5", "0" * 32, "second", 3),
        ListEntry("sha1", "0" * 40, None, 4),
    ]
    assert list(unique(rows)) == [rows[0], rows[1], rows[3]]
