"""The report's removal orders: per-group compliance counts in JSON, CSV, Markdown and HTML,
`--group-by order` (one row per order), URLs redacted, outside text escaped."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from monitor import store
from monitor.core import clock
from monitor.core.config import Config, ReportConfig
from monitor.store.summary import refresh
from reports.build import build_report
from reports.render import render

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=200)
CONFIG = Config(report=ReportConfig(min_notices_for_rates=1))
HOSTILE_ID = '=HYPERLINK("x")|*_[a]'
HOSTILE_AUTHORITY = "<script>alert(1)</script>"

CHECKS = {  # report: hoster, [(hours, outcome)]
    1: (1, [(1, "online"), (2, "removed"), (4, "removed")]),
    2: (1, [(1, "online"), (4, "online"), (6, "removed"), (8, "removed")]),
    3: (2, [(1, "online"), (4, "online")]),
    4: (2, [(1, "online"), (3, "blocked"), (4, "blocked")]),
}
ORDERS = [  # order_id, report, authority, deadline hours
    ("O-1", 1, "ATKM", 3),
    ("O-2", 2, "ATKM", 3),
    (HOSTILE_ID, 3, HOSTILE_AUTHORITY, 3),
    ("O-4", 4, None, 3),
    ("O-5", 4, None, 100),
]
EXPECTED = {
    "O-1": "complied",
    "O-2": "late",
    HOSTILE_ID: "not_complied",
    "O-4": "unverifiable",
    "O-5": "pending",
}


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)  # `--now` pins the process clock


def iso(hours: float) -> str:
    return clock.iso(T0 + timedelta(hours=hours))  # type: ignore[return-value]


@pytest.fixture
def db(tmp_path):
    d = store.connect(tmp_path / "o.db")
    d["hosters"].insert_all(
        [
            {"id": 1, "name": "Alpha", "created_at": iso(0)},
            {"id": 2, "name": "Beta", "created_at": iso(0)},
        ]
    )
    for rid, (hoster, checks) in CHECKS.items():
        d["reports"].insert(
            {
                "id": rid,
                "url": f"http://img{rid}.example.test/secret/{rid}.jpg",
                "url_key": f"k{rid}",
                "reported_at": iso(0),
                "noticed_at": iso(0),
                "imported_at": iso(0),
            }
        )
        d["checks"].insert_all(
            [
                {
                    "report_id": rid,
                    "due_at": iso(h),
                    "checked_at": iso(h),
                    "outcome": o,
                    "reason": "r",
                    "hoster_id": hoster,
                }
                for h, o in checks
            ]
        )
    d["orders"].insert_all(
        [
            {
                "order_id": oid,
                "report_id": rid,
                "authority": authority,
                "issued_at": iso(0),
                "deadline_at": iso(hours),
                "imported_at": iso(0),
            }
            for oid, rid, authority, hours in ORDERS
        ]
    )
    refresh(d, CHECKS, CONFIG.takedown, CONFIG.schedule, now=NOW)
    yield d
    d.conn.close()


def report(db, **kw):
    return build_report(db, CONFIG, now=NOW, **kw)


def test_json_has_the_orders_and_a_summary_per_group(db):
    data = json.loads(render(report(db), "json"))
    states = {o["order_id"]: o["state"] for o in data["orders"]}
    assert states == EXPECTED
    late = next(o for o in data["orders"] if o["order_id"] == "O-2")
    assert late["lateness_hours"] == 3.0 and late["lateness_resolution_hours"] == [1.0, 3.0]
    assert late["hoster"] == "Alpha" and late["deadline_at"] == iso(3)
    groups = {g["hoster"]: g["orders"] for g in data["groups"]}
    assert groups["Alpha"] == {
        "orders": 2,
        "complied": 1,
        "late": 1,
        "not_complied": 0,
        "unverifiable": 0,
        "pending": 0,
        "lateness_hours_median": 3.0,
    }
    assert groups["Beta"] == {
        "orders": 3,
        "complied": 0,
        "late": 0,
        "not_complied": 1,
        "unverifiable": 1,
        "pending": 1,
        "lateness_hours_median": None,
    }
    assert data["orders_overall"]["orders"] == 5
    assert "http" not in json.dumps(data) and "/secret/" not in json.dumps(data)
    assert all(o["url"].startswith("img") and " · #" in o["url"] for o in data["orders"])


def test_the_cutoff_applies_to_orders(db):
    """Before the checks after the deadline (until = 2.5 h), every order is pending."""
    data = json.loads(render(report(db, until=iso(2.5)), "json"))
    assert {o["state"] for o in data["orders"]} == {"pending"}


def test_group_by_order_is_one_row_per_order(db):
    r = report(db, group_by="order")
    data = json.loads(render(r, "json"))
    assert data["group_by"] == "order" and len(data["groups"]) == 5
    assert [g["order_id"] for g in data["groups"]] == [o["order_id"] for o in data["orders"]]
    assert {g["hoster"] for g in data["hosters"]} == {"Alpha", "Beta"}
    rows = list(csv.DictReader(io.StringIO(render(r, "csv"))))
    assert len(rows) == 5 and list(rows[0])[:3] == ["order_id", "authority", "hoster"]
    by_id = {row["order_id"]: row for row in rows}
    assert "'" + HOSTILE_ID in by_id  # a formula is defused
    assert by_id["O-2"]["state"] == "late" and by_id["O-2"]["lateness_hours"] == "3.0"
    assert by_id["O-2"]["lateness_low_hours"] == "1.0"
    assert "/secret/" not in render(r, "csv") and "http" not in render(r, "csv")
    md = render(r, "md")
    assert "## Per hoster" in md and "## Removal orders" in md


def test_csv_per_group_sums_the_orders(db):
    rows = {row["label"]: row for row in csv.DictReader(io.StringIO(render(report(db), "csv")))}
    assert (
        rows["Beta"]["orders"],
        rows["Beta"]["orders_not_complied"],
        rows["Beta"]["orders_pending"],
    ) == ("3", "1", "1")
    assert rows["Alpha"]["orders_lateness_hours_median"] == "3.0"


def test_markdown_and_html_escape_and_redact(db):
    r = report(db)
    md = render(r, "md")
    assert "| Alpha | 2 | 1 | 1 | 0 | 0 | 0 | 3.0 h |" in md
    assert "&lt;script&gt;" in md and "<script>" not in md
    assert "\\|\\*\\_\\[a\\]" in md  # Markdown characters escaped
    assert "/secret/" not in md and "img2.example.test" in md
    assert "/secret/2.jpg" in render(r, "md", show_urls=True)
    assert "3.0 h (1.0 h–3.0 h)" in md
    html = render(r, "html")
    assert 'id="orders-table"' in html and "not complied" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "/secret/" not in html and "/secret/3.jpg" in render(r, "html", show_urls=True)


def test_no_orders_no_section(db):
    db.execute("DELETE FROM orders")
    r = report(db)
    assert "Removal orders" not in render(r, "md") and 'id="orders"' not in render(r, "html")
    assert json.loads(render(r, "json"))["orders"] == []


def test_cli_report_group_by_order(db, tmp_path):
    from monitor.cli.main import cli

    path = db.conn.execute("PRAGMA database_list").fetchone()[2]
    out = CliRunner().invoke(
        cli,
        [
            "--db",
            path,
            "--now",
            clock.iso(NOW),
            "report",
            "--format",
            "json",
            "--group-by",
            "order",
        ],
    )
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.output)["groups"]) == 5
