"""vPDQ signatures in hash lists and report imports: `normalize("vpdq", ...)`, hash list CSV and
JSON Lines (all three signature forms, bad rows by line number, dry run, big cells), the reports
`vpdq` column, and the image Matcher and re-upload index leaving `vpdq` rows out."""

from __future__ import annotations

import csv
import io
import json
from functools import cache

import pytest
from click.testing import CliRunner

from hashes.formats import ALGORITHMS, VIDEO_ALGORITHMS, HashFormatError, normalize
from hashes.lists import parse_text, read, wide_fields, write
from hashes.match import Matcher
from hashes.video_model import FrameHash
from hashes.video_text import MAX_TEXT, parse, to_text
from monitor import store
from monitor.cli.main import cli
from monitor.core.config import Config
from monitor.intake.hash_list import import_hashes
from monitor.intake.reports import import_reports
from monitor.reuploads.index import load_index

PDQ = "ab" * 32
H = "0123456789abcdef" * 4


@cache
def real_signature(seed: int = 11) -> tuple[FrameHash, ...]:
    """The vPDQ frames of a generated benign clip (hashes.video on tests/video_fixtures)."""
    from hashes.video import video_signature
    from tests.video_fixtures import clip

    return video_signature(clip(seed, seconds=5)).frames


def stored(frames) -> str:
    return to_text(frames)


def reference_file(frames) -> str:
    return "".join(f.line() + "\n" for f in frames)


def threatexchange(frames) -> str:
    return json.dumps(
        {
            str(f.frame): {"quality": f.quality, "hash": f.pdq, "timestamp": f.timestamp}
            for f in frames
        }
    )


def csv_text(rows) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def synthetic(n: int) -> str:
    return ";".join(f"{k},{k % 101},{H},{k}.000" for k in range(n))


@pytest.fixture
def db(tmp_path):
    return store.connect(tmp_path / "v.db")


def test_normalize_gives_the_canonical_text_for_every_form():
    frames = real_signature()
    canonical = stored(frames)
    for form in (canonical, reference_file(frames), threatexchange(frames), " " + canonical + "\n"):
        assert normalize("vpdq", form) == ("vpdq", canonical)
        assert normalize(" VPDQ ", form) == ("vpdq", canonical)
    with pytest.raises(HashFormatError, match="frame 1: hash must be 64 hex digits"):
        normalize("vpdq", "0,100,xyz,0.0")
    with pytest.raises(HashFormatError) as unknown:
        normalize("vpdq2", PDQ)
    assert "vpdq" in str(unknown.value) and "pdq" in str(unknown.value)
    assert "vpdq" not in ALGORITHMS and VIDEO_ALGORITHMS == ("vpdq",)
    assert normalize("pdq", PDQ.upper()) == ("pdq", PDQ)  # images as before


def test_hash_list_reads_every_signature_form_and_names_bad_rows():
    frames = real_signature()
    canonical = stored(frames)
    text = csv_text(
        [
            ("algorithm", "hash", "label"),
            ("vpdq", canonical, "stored form"),
            ("vpdq", reference_file(frames), "reference lines in a quoted cell"),
            ("vpdq", threatexchange(frames), "threatexchange json"),
            ("vpdq", "0,100,nothex,0.0", "bad"),
            ("pdq", PDQ, "image"),
            ("vpdq", stored(real_signature(12)), "another video"),
            ("vpdq", reference_file(frames) + "7,100,00,7.000\n", "bad last line"),
        ]
    )
    entries, errors = read(io.StringIO(text), dedupe=False)
    assert [e.algorithm for e in entries] == ["vpdq", "vpdq", "vpdq", "pdq", "vpdq"]
    assert {e.hash for e in entries[:3]} == {canonical}
    # the reference file's lines span physical lines (3 to 3 + len(frames)): line numbers count
    bad_line = 3 + len(frames) + 2
    assert errors == [
        (bad_line, "frame 1: hash must be 64 hex digits"),
        (bad_line + 3, f"frame {len(frames) + 1}: hash must be 64 hex digits"),  # its first line
    ]
    deduped, _ = parse_text(text)
    assert [e.label for e in deduped] == ["stored form", "image", "another video"]
    out = io.StringIO()
    assert write(deduped, out) == 3
    again, errors = parse_text(out.getvalue())
    assert errors == [] and [(e.algorithm, e.hash) for e in again] == [
        (e.algorithm, e.hash) for e in deduped
    ]


def test_a_big_signature_cell_reads_and_the_csv_limit_is_restored():
    before = csv.field_size_limit()
    big = synthetic(20_000)  # ~1.7 M characters, far beyond csv's default 131072
    assert len(big) > before
    entries, errors = parse_text(csv_text([("vpdq", big, "long video")]))
    assert errors == [] and len(parse(entries[0].hash)) == 20_000
    assert csv.field_size_limit() == before
    too_big = csv_text([("vpdq", "0" * (MAX_TEXT + 1), "")])
    entries, errors = parse_text(too_big)
    assert entries == [] and "field larger than field limit" in errors[0][1]
    assert csv.field_size_limit() == before
    with wide_fields():
        assert csv.field_size_limit() == MAX_TEXT
    assert csv.field_size_limit() == before


def cli_import(tmp_path, path, *extra):
    return CliRunner().invoke(
        cli, ["--db", str(tmp_path / "cli.db"), "import", "hashes", str(path), *extra]
    )


def test_import_hashes_cli_stores_canonical_signatures_and_counts_a_dry_run(tmp_path):
    frames, other = real_signature(), real_signature(12)
    path = tmp_path / "videos.csv"
    path.write_text(
        csv_text(
            [
                ("algorithm", "hash", "label"),
                ("vpdq", reference_file(frames), "series-9 clip 1"),
                ("vpdq", threatexchange(other), "series-9 clip 2"),
                ("vpdq", stored(frames), "the same clip again"),
                ("pdq", PDQ, "a still"),
            ]
        )
    )
    dry = cli_import(tmp_path, path, "--list", "known", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "4 rows read, would add 3" in dry.output and "1 unchanged, 0 bad" in dry.output
    db = store.connect(tmp_path / "cli.db")
    assert db.execute("SELECT count(*) FROM known_hashes").fetchone() == (0,)
    real = cli_import(tmp_path, path, "--list", "known")
    assert real.exit_code == 0 and "added 3" in real.output, real.output
    rows = dict(
        db.execute(
            "SELECT label, hash FROM known_hashes WHERE algorithm = 'vpdq' ORDER BY id"
        ).fetchall()
    )
    assert rows == {"series-9 clip 1": stored(frames), "series-9 clip 2": stored(other)}
    again = cli_import(tmp_path, path, "--list", "known")
    assert "added 0" in again.output and "4 unchanged" in again.output


def test_import_hashes_names_bad_signature_rows_by_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "algorithm,hash,label\n"
        f'vpdq,"{stored(real_signature())}",good\n'
        f"vpdq,0,100,{H},0.0,too many cells\n"
        f'vpdq,"0,100,{H},\u0661",arabic digit\n'
        f'vpdq,"0,100,{H},0;0,90,{H},1",frame twice\n'
        f'vpdq,"0,100,{H},0\n0,90,{H}\x1f,1",control character\n'
        'vpdq,"{""0"": {""quality"": 100, ""hash"": ""x"", ""timestamp"": 0}}",json\n'
        f"pdq,{PDQ},still fine\n"
    )
    result = cli_import(tmp_path, path, "--list", "known")
    assert result.exit_code == 2
    out = result.output
    assert "5 bad" in out and "added 2" in out
    assert f"{path}:3: expected 3 fields, found 6" in out
    assert f"{path}:4: frame 1: timestamp must be a number of seconds" in out
    assert f"{path}:5: vpdq signature names a frame number twice" in out
    assert f"{path}:6: hash: contains a control character (U+001F)" in out
    assert f"{path}:8: frame 1: hash must be 64 hex digits" in out
    assert "Traceback" not in out and H not in out


def test_import_hashes_json_lines_take_a_signature_as_string_or_object(db, tmp_path):
    frames = real_signature()
    path = tmp_path / "videos.jsonl"
    rows = [
        {"algorithm": "vpdq", "hash": stored(frames), "label": "string"},
        {"algorithm": "vpdq", "hash": json.loads(threatexchange(real_signature(12)))},
        {"algorithm": "vpdq", "hash": reference_file(real_signature(13))},
        {"algorithm": "vpdq", "hash": {"0": {"quality": 100, "hash": H, "timestamp": 1e999}}},
        {"algorithm": "pdq", "hash": {"not": "a pdq"}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = import_hashes(db, path, "known")
    assert (result.read, result.added, result.bad) == (5, 3, 2)
    assert [e.line for e in result.errors] == [4, 5]
    assert result.errors[0].reason == "vpdq signature is not valid JSON"  # Infinity
    assert "pdq hash must be 64 hex digits" in result.errors[1].reason
    got = [h for (h,) in db.execute("SELECT hash FROM known_hashes ORDER BY id")]
    assert got == [stored(frames), stored(real_signature(12)), stored(real_signature(13))]


def test_reports_import_takes_a_vpdq_column(db, tmp_path):
    frames = real_signature()
    path = tmp_path / "reports.csv"
    path.write_text(
        csv_text(
            [
                ("url", "reference", "sha256", "vpdq"),
                ("http://a.example/v1.mp4", "NL-V-1", "cd" * 32, threatexchange(frames)),
                ("http://a.example/v2.mp4", "NL-V-2", "", reference_file(real_signature(12))),
                ("http://a.example/v3.mp4", "NL-V-3", "", "0,100,zz,0"),
                ("http://a.example/v4.mp4", "NL-V-4", "", ""),
            ]
        )
    )
    result = import_reports(db, path, Config())
    assert (result.added, result.bad) == (3, 1)
    [error] = result.errors
    assert error.line == 2 + 1 + len(real_signature(12)) + 1
    assert error.reason == "vpdq: frame 1: hash must be 64 hex digits"
    rows = db.execute(
        "SELECT r.reference, h.algorithm, h.hash, h.origin FROM report_hashes h "
        "JOIN reports r ON r.id = h.report_id ORDER BY r.id, h.algorithm"
    ).fetchall()
    assert rows == [
        ("NL-V-1", "sha256", "cd" * 32, "imported"),
        ("NL-V-1", "vpdq", stored(frames), "imported"),
        ("NL-V-2", "vpdq", stored(real_signature(12)), "imported"),
    ]
    again = import_reports(db, path, Config())
    assert again.added == 0
    assert db.execute("SELECT count(*) FROM report_hashes").fetchone() == (3,)


def test_reports_json_lines_vpdq_and_a_dry_run(db, tmp_path):
    path = tmp_path / "reports.jsonl"
    rows = [
        {"url": "http://b.example/1.mp4", "vpdq": json.loads(threatexchange(real_signature()))},
        {"url": "http://b.example/2.mp4", "vpdq": stored(real_signature(12)), "pdq": PDQ},
        {"url": "http://b.example/3.mp4", "vpdq": "0,100,\u0661,0"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    dry = import_reports(db, path, Config(), dry_run=True)
    assert (dry.added, dry.bad) == (2, 1) and dry.errors[0].line == 3
    assert db.execute("SELECT count(*) FROM report_hashes").fetchone() == (0,)
    real = import_reports(db, path, Config())
    assert (real.added, real.bad) == (2, 1)
    assert db.execute(
        "SELECT algorithm, count(*) FROM report_hashes GROUP BY algorithm ORDER BY algorithm"
    ).fetchall() == [("pdq", 1), ("vpdq", 2)]


def test_the_image_matcher_leaves_vpdq_rows_out_without_an_error():
    matcher = Matcher()
    canonical = stored(real_signature())
    added = matcher.add_many(
        [
            (("known", 1), "vpdq", canonical),
            (("known", 2), "pdq", PDQ),
            (("known", 3), "VPDQ", "x"),
        ],
        list_name="known",
    )
    assert added == 1 and len(matcher) == 1
    matcher.add(("known", 4), "vpdq", canonical, list_name="known")  # no error, nothing added
    assert len(matcher) == 1
    with pytest.raises(HashFormatError):
        matcher.add_many([(("known", 5), "pdq", "nothex")], list_name="known")


def test_load_index_leaves_vpdq_rows_out_of_the_packed_loaders(db, tmp_path, monkeypatch):
    frames = real_signature()
    hashes_csv = tmp_path / "h.csv"
    hashes_csv.write_text(
        csv_text(
            [
                ("algorithm", "hash", "label"),
                ("vpdq", stored(frames), "v"),
                ("pdq", PDQ, "p"),
                ("sha256", "ef" * 32, "s"),
                ("vpdq", stored(real_signature(12)), "w"),
            ]
        )
    )
    assert import_hashes(db, hashes_csv, "known").added == 4
    reports_csv = tmp_path / "r.csv"
    reports_csv.write_text(
        csv_text(
            [
                ("url", "pdq", "vpdq"),
                ("http://c.example/only-video.mp4", "", stored(frames)),
                ("http://c.example/both", PDQ, stored(frames)),
                ("http://c.example/none", "", ""),
            ]
        )
    )
    assert import_reports(db, reports_csv, Config()).added == 3
    seen_rows: list[tuple] = []
    original = Matcher.add_many

    def spy(self, rows, **kwargs):
        rows = list(rows)
        seen_rows.extend(rows)
        return original(self, rows, **kwargs)

    monkeypatch.setattr(Matcher, "add_many", spy)
    index = load_index(db, Config())
    assert index.entries == 3  # the report's pdq, the list's pdq and sha256
    assert index.with_baseline == {1, 2}  # a video-only report has a baseline too
    assert all(row[1] != "vpdq" for row in seen_rows)  # never read row by row
