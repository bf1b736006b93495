"""Fuzzing the doors that take files and settings from outside: the three importers and the config.

Generated report files (CSV and JSON Lines), hash lists and hoster files carry arbitrary and
hostile text (control, separator and bidi characters, unpaired surrogates, Unicode digits, huge
and odd years, credentials in URLs, long strings, odd or unknown columns, broken quoting, raw
bytes). Each runs against a fresh store, first as a dry run and then for real. What must hold:
- nothing escapes but the importers' file-level `ImportFileError`;
- every row read is loaded, counted unchanged, or reported (`file:line: reason`, the reason
  never echoing a control character);
- a dry run reports exactly what the real run then does, and writes nothing;
- what is stored passes the shared text check, and stored report times are plausible.
The config loader (`monitor.core.config.from_dict`) on arbitrary nested TOML-like values raises
nothing but `ConfigError`.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashes.formats import ALGORITHMS
from monitor import store
from monitor.core import clock
from monitor.core.config import Config, ConfigError, from_dict
from monitor.intake.common import MAX_ERRORS_KEPT, ImportFileError, ImportResult, text_problem
from monitor.intake.hash_list import import_hashes
from monitor.intake.hosters import COLUMNS as HOSTER_COLUMNS
from monitor.intake.hosters import import_hosters
from monitor.intake.reports import COLUMNS as REPORT_COLUMNS
from monitor.intake.reports import EARLIEST, import_reports

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = "2026-06-01T00:00:00Z"

PHASH = "f0e1d2c3b4a59687"
PDQ = "ab" * 32
HOSTILE_CHARS = [
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u2066",
    "\ud800",
    "\ufeff",
    '"',
    ",",
    "\\",
]
UNICODE_DIGITS = ["\u00b2", "\u0663\u0664", "\uff10", "\u0968", "\U0001d7d9", "\u2466"]
TIMES = [
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z",
    "0999-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "2999-01-01T00:00:00Z",
    "1989-12-31T23:59:59Z",
    "1990-01-01T00:00:00Z",
    "2026-05-31T10:00:00Z",
    "2026-06-02T00:00:00Z",
    "2026-06-02T00:00:01Z",
    "2026-01-01T00:00:00",
    "2026-13-01T00:00:00Z",
    "2026-01-01T00:00:00+25:00",
    "\u0662\u0660\u0662\u0666-01-01T00:00:00Z",
    "2026-W01-1",
    "2026-01-01T00:00:00.123456789Z",
    "yesterday",
    "",
]
URLS = [
    "https://a.example/ok",
    "http://b.example/x?a=1#f",
    "http://user:pw@a.example/x",
    "http://a..b/",
    "http://a.example:0/",
    "http://[::1%25eth0]/",
    "http://[::1]:8080/x",
    "http://" + "a" * 64 + ".example/",
    "http://" + "abc." * 64 + "example/",
    "http://169.254.169.254/latest",
    "javascript:alert(1)",
    "http://a.example:\u0668\u0660/",
    "http://[vuln]/",
    "http://a.example:99999/",
    "//a.example/x",
    "http:///x",
    "http://b\u00fccher.example/",
    "http://a%41.example/",
    "http://127.1/",
    "ftp://a.example/",
]
ASNS = ["64500", "AS64500", "as1", "0", "4294967294", "4294967295", "AS", "1" * 40, "-1", "+5"]
PREFIXES = [
    "0.0.0.0/0",
    "::/0",
    "10.0.0.1/8",
    "192.0.2.0/24",
    "fe80::%eth0/64",
    "2001:db8::/32",
    "1.2.3.4/33",
    "::ffff:0:0/96",
    "10.0.0.0/255.0.0.0",
    "198.18.8.0/24",
]
EMAILS = [
    "a@b.example",
    "a@b.example,c@d.example",
    "Name <a@b.example>",
    "a@b@c.example",
    "abuse@localhost",
]
HASHES = [PHASH, PDQ, "0x" + PHASH, PHASH.upper(), "zz", "\u0660" * 16, "f" * 63, "a" * 40]
WORDS = [
    "phash",
    "pdq",
    "md5",
    "sha1",
    "sha256",
    "dhash",
    "PDQ",
    "photodna",
    "standard",
    "x-signature",
    "NL",
    "de",
    "SECRET_ENV",
    "1BAD",
    "Big Host",
    "None",
    "null",
]
SAMPLES = TIMES + URLS + ASNS + PREFIXES + EMAILS + HASHES + WORDS + UNICODE_DIGITS

sample = st.sampled_from(SAMPLES)
field_text = st.one_of(
    st.text(max_size=30),  # any Unicode, C0/C1 too
    sample,
    st.builds(
        lambda a, c, b: a + c + b,
        sample,
        st.sampled_from(HOSTILE_CHARS + UNICODE_DIGITS),
        st.text(max_size=4),
    ),
    st.integers(min_value=150, max_value=12_000).map(lambda n: "x" * n),  # long strings
)
json_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        field_text,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # an unpaired surrogate: invalid UTF-8 bytes


hexes = st.sampled_from([16, 32, 40, 64]).flatmap(
    lambda n: st.text("0123456789abcdefABCDEF", min_size=n, max_size=n)
)
stamp = st.datetimes(
    min_value=datetime(1985, 1, 1),
    max_value=datetime(2030, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11))]),
).map(lambda d: d.isoformat())
printable = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), max_size=12
)
GOOD = {  # plausible values per column, so that good rows load alongside the bad ones
    "url": st.builds(
        "http://{}.example/{}".format, st.text("abc-", min_size=1, max_size=4), printable
    ),
    "reference": printable,
    "label": printable,
    "reported_at": st.one_of(st.just(""), stamp),
    "noticed_at": st.one_of(st.just(""), stamp),
    "phash": st.sampled_from(["", PHASH]),
    "pdq": st.sampled_from(["", PDQ]),
    "sha256": st.sampled_from(["", "0" * 64]),
    "algorithm": st.sampled_from(["phash", "dhash", "pdq", "md5", "sha1", "sha256", "MD5"]),
    "hash": hexes,
    "name": st.sampled_from(["Big Host", "Small Host", "Reseller"]),
    "asn": st.one_of(
        st.just(""), st.integers(0, 2**32).map(str), st.integers(1, 2**16).map("AS{}".format)
    ),
    "prefix": st.sampled_from(["", *PREFIXES]),
    "country": st.sampled_from(["", "NL", "de"]),
    "abuse_email": st.sampled_from(["", *EMAILS]),
    "webhook_url": st.sampled_from(["", "https://hooks.example/x", *URLS[:8]]),
    "webhook_secret_env": st.sampled_from(["", "HOOK_SECRET", "1BAD"]),
    "webhook_scheme": st.sampled_from(["", "standard", "X-Signature", "hmac"]),
}


def row_values(draw, header: list[str]) -> dict[str, object]:
    """Two rows in three plausible (they should load), the rest hostile in any field."""
    good = draw(st.integers(0, 2)) > 0
    values: dict[str, object] = {}
    for column in header:
        plausible = GOOD.get(column, field_text)
        values[column] = draw(plausible if good else st.one_of(plausible, field_text, json_value))
    algorithm = ALGORITHMS.get(str(values.get("algorithm", "")).lower())
    if good and algorithm and "hash" in values:
        values["hash"] = draw(
            st.text("0123456789abcdef", min_size=algorithm.hex_len, max_size=algorithm.hex_len)
        )
    return values


@st.composite
def import_file(draw, columns: tuple[str, ...], required: tuple[str, ...]) -> tuple[str, bytes]:
    """(file name, content) of a CSV or JSON Lines file over `columns`, hostile in every way."""
    kind = draw(st.sampled_from(["csv", "csv", "raw-csv", "jsonl", "jsonl", "bytes"]))
    suffix = draw(st.sampled_from([".csv", ".jsonl", ".txt", ""]))
    if draw(st.integers(0, 4)):  # mostly the suffix that fits (else: read as the other kind)
        suffix = ".jsonl" if kind == "jsonl" else ".csv" if kind == "csv" else suffix
    odd = st.sampled_from(["colour", "URL ", "", "Url", "\u202eurl"])
    header = [*required, *draw(st.lists(st.sampled_from(columns), max_size=len(columns)))]
    if not draw(st.integers(0, 5)):  # now and then an unusable header: file-level error
        header = draw(st.lists(st.one_of(st.sampled_from(columns), odd), min_size=1, max_size=9))
    header = list(dict.fromkeys(header)) if draw(st.integers(0, 9)) else header
    if kind == "bytes":
        return "f" + suffix, draw(st.binary(max_size=400))
    if kind == "jsonl":
        hostile_line = st.one_of(
            st.text(max_size=40).map(lambda t: t.replace("\n", " ")),
            st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),
            st.just('{"url": ' + "9" * 5000 + "}"),
        )
        lines = []
        for _ in range(draw(st.integers(0, 8))):
            if draw(st.integers(0, 4)):
                keys = [
                    *required,
                    *draw(st.lists(st.sampled_from([*columns, "colour"]), max_size=3)),
                ]
                lines.append(json.dumps(row_values(draw, list(dict.fromkeys(keys)))))
            else:
                lines.append(draw(hostile_line))
        return "f" + (suffix or ".jsonl"), _encode("\n".join(lines) + "\n")
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        row = [str(v) for v in row_values(draw, header).values()]
        if not draw(st.integers(0, 9)):  # a field too many or too few
            row = row[:-1] if row and draw(st.booleans()) else [*row, draw(field_text)]
        rows.append(row)
    if kind == "raw-csv":  # joined by hand: unbalanced quotes, stray CRs
        text = "\n".join(",".join(r) for r in [header, *rows]) + draw(
            st.sampled_from(["", "\n", "\r\n", "\r"])
        )
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(header)
        writer.writerows(rows)
        text = out.getvalue()
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return "f" + (suffix or ".csv"), _encode(bom + text)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "template.db"
    store.connect(path).conn.close()
    return path


@pytest.fixture(autouse=True)
def fixed_clock():
    clock.fix(NOW)
    yield
    clock.fix(None)


TABLES = ("reports", "report_hashes", "hash_lists", "known_hashes", "hosters", "hoster_networks")


def counts(db) -> list[int]:
    return [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES]


def run_both(template: Path, name: str, content: bytes, importer) -> tuple[object, object]:
    """Dry run, then the real run, on a fresh copy of an empty store; both results (or None)."""
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / name
        path.write_bytes(content)
        shutil.copy(template, Path(work) / "t.db")
        db = store.connect(Path(work) / "t.db")
        try:
            results = []
            for dry in (True, False):
                before = counts(db)
                try:
                    results.append(importer(db, path, dry))
                except ImportFileError as exc:
                    assert str(exc) and text_problem(str(exc).replace(str(path), "")) is None
                    results.append(None)
                if dry:
                    assert counts(db) == before, "a dry run wrote to the store"
            dry_result, real = results
            assert (dry_result is None) == (real is None)
            if real is not None:
                assert isinstance(real, ImportResult) and isinstance(dry_result, ImportResult)
                check_result(real, path)
                assert (
                    dry_result.read,
                    dry_result.added,
                    dry_result.unchanged,
                    dry_result.bad,
                ) == (real.read, real.added, real.unchanged, real.bad)
                assert [str(e) for e in dry_result.errors] == [str(e) for e in real.errors]
                check_stored(db, real)
            return dry_result, real
        finally:
            db.conn.close()


def check_result(result: ImportResult, path: Path) -> None:
    assert result.read == result.added + result.unchanged + result.bad
    assert len(result.errors) == min(result.bad, MAX_ERRORS_KEPT)
    for error in result.errors:
        assert error.line >= 1 and str(error).startswith(f"{path}:{error.line}: ")
        assert text_problem(error.reason) is None, error.reason  # never echoes a CR or LF


def check_stored(db, result: ImportResult) -> None:
    for table in TABLES:
        for row in db.execute(f"SELECT * FROM {table}").fetchall():
            for value in row:
                assert not isinstance(value, str) or text_problem(value) is None, (table, row)
    latest = clock.now() + timedelta(days=1)
    for url, reported, noticed in db.execute("SELECT url, reported_at, noticed_at FROM reports"):
        assert "@" not in url.split("/")[2]
        for stamp in (reported, noticed):
            assert (
                EARLIEST <= clock.parse(stamp) <= latest and clock.iso(clock.parse(stamp)) == stamp
            )


@FUZZ
@given(file=import_file(REPORT_COLUMNS, ("url",)))
def test_fuzz_import_reports(template, file):
    run_both(template, *file, lambda db, path, dry: import_reports(db, path, Config(), dry_run=dry))


@FUZZ
@given(file=import_file(("algorithm", "hash", "label"), ("algorithm", "hash")))
def test_fuzz_import_hashes(template, file):
    run_both(template, *file, lambda db, path, dry: import_hashes(db, path, "fuzz", dry_run=dry))


@FUZZ
@given(file=import_file(HOSTER_COLUMNS, ("name",)))
def test_fuzz_import_hosters(template, file):
    run_both(template, *file, lambda db, path, dry: import_hosters(db, path, dry_run=dry))


# --- the config loader ---

DURATIONS = [
    "30s",
    "12h",
    "5d",
    "2w",
    "0s",
    "-5h",
    "1e309h",
    "9" * 30 + "d",
    "nan s",
    "inf h",
    "1.5m",
    "12",
    "h",
    "\u0661\u0662h",
    "\u00b2d",
    "30 s",
    "",
]
toml_scalar = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(DURATIONS + UNICODE_DIGITS + PREFIXES + URLS[:6]),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
    st.dates(),
    st.times(),
)
toml_value = st.recursive(
    toml_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _section(cls) -> st.SearchStrategy:
    names = [f.name for f in fields(cls)]
    return st.dictionaries(
        st.one_of(st.sampled_from(names), st.text(max_size=8)), toml_value, max_size=4
    )


SECTIONS = {f.name: f.default_factory for f in fields(Config)}  # type: ignore[misc]
config_data = st.one_of(
    st.fixed_dictionaries(
        {}, optional={name: st.one_of(_section(cls), toml_value) for name, cls in SECTIONS.items()}
    ),
    st.dictionaries(st.text(max_size=8), toml_value, max_size=3),
    toml_value,
)


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=config_data)
def test_fuzz_config_from_dict_raises_only_config_error(data):
    try:
        config = from_dict(data)
    except ConfigError as exc:
        assert str(exc)
        return
    assert isinstance(config, Config)
