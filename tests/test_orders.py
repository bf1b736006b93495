"""`import orders`: removal orders by URL or reference, validated like every import, idempotent,
and each order's deadline slots in the report's next_check_at."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from monitor import store
from monitor.core import clock
from monitor.core.config import Config
from monitor.core.timeline import Observation
from monitor.intake.orders import import_orders
from monitor.intake.reports import import_reports

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CONFIG = Config()


@pytest.fixture(autouse=True)
def fixed_now():
    clock.fix(NOW)
    yield
    clock.fix(None)


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.fixture
def db(tmp_path):
    d = store.connect(tmp_path / "t.db")
    reports = write(
        tmp_path,
        "r.csv",
        "url,reference,noticed_at\n"
        "http://a.example/1.jpg,CASE-1,2026-03-08T00:00:00Z\n"
        "http://a.example/2.jpg,CASE-2,2026-03-08T00:00:00Z\n"
        "http://b.example/3.jpg,CASE-2,2026-03-08T00:00:00Z\n"
        "http://b.example/4.jpg,,2026-03-08T00:00:00Z\n",
    )
    assert import_reports(d, reports, CONFIG).added == 4
    yield d
    d.conn.close()


def orders(db):
    return db.execute(
        "SELECT order_id, report_id, authority, issued_at, deadline_at FROM orders "
        "ORDER BY order_id, report_id"
    ).fetchall()


GOOD = (
    "url,reference,order_id,issued_at,deadline,authority\n"
    "http://a.example/1.jpg,,O-1,2026-03-10T10:00:00Z,1h,ATKM\n"
    ",CASE-2,O-2,2026-03-10T10:00:00Z,2026-03-11T10:00:00+01:00,ATKM\n"
    "HTTP://A.EXAMPLE/1.jpg,CASE-1,O-3,2026-03-10T10:00:00,24h,\n"
)


def test_orders_by_url_and_by_reference_with_both_deadline_forms(db, tmp_path):
    result = import_orders(db, write(tmp_path, "o.csv", GOOD), CONFIG)
    assert result.ok and result.read == 3 and result.added == 4, result.errors
    assert orders(db) == [
        ("O-1", 1, "ATKM", "2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z"),
        ("O-2", 2, "ATKM", "2026-03-10T10:00:00Z", "2026-03-11T09:00:00Z"),  # both CASE-2
        ("O-2", 3, "ATKM", "2026-03-10T10:00:00Z", "2026-03-11T09:00:00Z"),
        ("O-3", 1, None, "2026-03-10T10:00:00Z", "2026-03-11T10:00:00Z"),
    ]
    assert any("read as UTC" in n for n in result.notes)
    assert any("several reports" in n for n in result.notes)


def test_reimport_is_unchanged_and_a_changed_deadline_is_a_row_error(db, tmp_path):
    path = write(tmp_path, "o.csv", GOOD)
    import_orders(db, path, CONFIG)
    before = orders(db)
    again = import_orders(db, path, CONFIG)
    assert again.ok and again.added == 0 and again.unchanged == 4
    changed = write(
        tmp_path,
        "c.csv",
        "url,order_id,issued_at,deadline\n"
        "http://a.example/1.jpg,O-1,2026-03-10T10:00:00Z,2h\n"
        "http://a.example/1.jpg,O-1,2026-03-10T10:00:00Z,1h\n",
    )
    result = import_orders(db, changed, CONFIG)
    assert result.bad == 2 and [e.line for e in result.errors] == [2, 3]
    assert "already stored for report 1 with another deadline" in str(result.errors[0])
    assert "with another authority" in str(result.errors[1])  # none given: not ATKM
    assert result.unchanged == 0 and result.added == 0
    assert orders(db) == before


POISON = [
    ("http://a.example/1.jpg,,,2026-03-10T10:00:00Z,1h,A", "order_id: missing"),
    (",,O-9,2026-03-10T10:00:00Z,1h,A", "url or reference: one is required"),
    ("http://nowhere.example/x.jpg,,O-9,2026-03-10T10:00:00Z,1h,A", "no report with this URL"),
    (",CASE-404,O-9,2026-03-10T10:00:00Z,1h,A", "no report with this reference"),
    ("http://a.example/1.jpg,CASE-2,O-9,2026-03-10T10:00:00Z,1h,A", "different reports"),
    ("http://a.example/1.jpg,,O-9,,1h,A", "issued_at: missing"),
    ("http://a.example/1.jpg,,O-9,1970-01-01T00:00:00Z,1h,A", "not a plausible time"),
    ("http://a.example/1.jpg,,O-9,2026-03-12T10:00:00Z,1h,A", "not a plausible time"),
    ("http://a.example/1.jpg,,O-9,2026-03-10T10:00:00Z,,A", "deadline: missing"),
    ("http://a.example/1.jpg,,O-9,2026-03-10T10:00:00Z,soon,A", "neither a duration"),
    ("http://a.example/1.jpg,,O-9,2026-03-10T10:00:00Z,0h,A", "not after issued_at"),
    (
        "http://a.example/1.jpg,,O-9,2026-03-10T10:00:00Z,2026-03-10T09:00:00Z,A",
        "not after issued_at",
    ),
    ("http://a.example/1.jpg,,O-9,2026-03-10T10:00:00Z,91d,A", "more than 90 days"),
    ("http://a.example/1.jpg,,O-9\x07,2026-03-10T10:00:00Z,1h,A", "control character"),
    ("http://a.example/1.jpg,,O-9,2026-03-10T10:00:00Z,1h,A\u202e", "bidi"),
    ("http://a.example/1.jpg,,O-9,2026-03-10T10:00:00Z,1h," + "A" * 201, "longer than 200"),
    ("http://u:p@a.example/1.jpg,,O-9,2026-03-10T10:00:00Z,1h,A", "credentials"),
]


@pytest.mark.parametrize("line,reason", POISON)
def test_poisoned_rows_are_row_errors_and_good_rows_load(db, tmp_path, line, reason):
    path = write(
        tmp_path,
        "o.csv",
        "url,reference,order_id,issued_at,deadline,authority\n"
        "http://a.example/2.jpg,,O-OK,2026-03-10T10:00:00Z,1h,A\n" + line + "\n",
    )
    result = import_orders(db, path, CONFIG)
    assert result.bad == 1 and result.added == 1, result.errors
    assert str(result.errors[0]).startswith(f"{path}:3: ") and reason in str(result.errors[0])
    assert [r[0] for r in orders(db)] == ["O-OK"]


def test_jsonl_and_dry_run_counts_are_a_real_runs_counts(db, tmp_path):
    rows = [
        {
            "url": "http://a.example/1.jpg",
            "order_id": "J-1",
            "issued_at": "2026-03-10T10:00:00Z",
            "deadline": "1h",
            "authority": "ATKM",
        },
        {
            "reference": "CASE-2",
            "order_id": "J-2",
            "issued_at": "2026-03-10T10:00:00Z",
            "deadline": "24h",
        },
        {
            "reference": "CASE-2",
            "order_id": "J-3",
            "issued_at": "2026-03-10T10:00:00Z",
            "deadline": ["1h"],
        },
    ]
    path = write(tmp_path, "o.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    dry = import_orders(db, path, CONFIG, dry_run=True)
    assert orders(db) == [] and dry.dry_run
    real = import_orders(db, path, CONFIG)
    assert (
        (dry.read, dry.added, dry.unchanged, dry.bad)
        == (real.read, real.added, real.unchanged, real.bad)
        == (3, 3, 0, 1)
    )
    assert "must be a string or a number" in str(real.errors[0])
    assert ("J-2", 3, None, "2026-03-10T10:00:00Z", "2026-03-11T10:00:00Z") in orders(db)


def test_missing_columns_refuse_the_file(db, tmp_path):
    from monitor.intake.common import ImportFileError

    with pytest.raises(ImportFileError, match="missing required column"):
        import_orders(db, write(tmp_path, "o.csv", "url,order_id,issued_at\nx,y,z\n"), CONFIG)


def test_an_order_puts_its_deadline_into_next_check_at(db, tmp_path):
    """Report 4 (noticed 60 h ago) was checked at its 48 h slot, the next is at 72 h; the
    order's deadline (12:30 today, 60.5 h after notice) comes first. A dry run changes nothing;
    without the order, the notice schedule's slot stays."""
    from monitor.store.summary import refresh

    db["checks"].insert(
        {
            "report_id": 4,
            "due_at": "2026-03-10T00:00:00Z",
            "outcome": "online",
            "checked_at": "2026-03-10T00:00:00Z",
            "reason": "match",
        }
    )
    refresh(db, [4], CONFIG.takedown, CONFIG.schedule, now=NOW)
    before = db["reports"].get(4)["next_check_at"]
    assert before == "2026-03-11T00:00:00Z"
    path = write(
        tmp_path,
        "o.csv",
        "url,order_id,issued_at,deadline\n"
        "http://b.example/4.jpg,O-4,2026-03-10T09:30:00Z,2026-03-10T12:30:00Z\n",
    )
    import_orders(db, path, CONFIG, dry_run=True)
    assert db["reports"].get(4)["next_check_at"] == before
    import_orders(db, path, CONFIG)
    assert db["reports"].get(4)["next_check_at"] == "2026-03-10T12:30:00Z"


def test_cli_import_orders_exit_codes(tmp_path):
    from monitor.cli.main import cli

    runner = CliRunner()
    dbf = str(tmp_path / "c.db")
    reports = write(tmp_path, "r.csv", "url,reference\nhttp://a.example/1.jpg,C-1\n")
    assert runner.invoke(cli, ["--db", dbf, "import", "reports", str(reports)]).exit_code == 0
    good = write(
        tmp_path,
        "o.csv",
        "reference,order_id,issued_at,deadline\nC-1,O-1,2026-03-10T10:00:00Z,24h\n",
    )
    ok = runner.invoke(cli, ["--db", dbf, "import", "orders", str(good)])
    assert ok.exit_code == 0 and "added 1 orders" in ok.output, ok.output
    bad = write(
        tmp_path,
        "b.csv",
        "reference,order_id,issued_at,deadline\nC-9,O-2,2026-03-10T10:00:00Z,24h\n",
    )
    failed = runner.invoke(cli, ["--db", dbf, "import", "orders", str(bad)])
    assert failed.exit_code == 2 and f"{bad}:2: reference: no report" in failed.output
    assert "Traceback" not in failed.output
    helped = runner.invoke(cli, ["import", "orders", "--help"])
    assert "Example:" in helped.output and "ntd-monitor import orders" in helped.output


def test_deadline_slots_are_after_the_deadline_whole_seconds():
    from monitor.core.schedule import order_slots

    d = datetime(2026, 3, 10, 11, 0, 0, 400_000, tzinfo=UTC)
    base = d.replace(microsecond=0) + timedelta(seconds=1)
    assert order_slots([d]) == (
        base,
        base + timedelta(minutes=1),
        base + timedelta(minutes=10),
        base + timedelta(hours=1),
    )


async def test_a_crawl_checks_each_order_at_its_deadline_slots(make_world, tmp_path):
    """Two items removed 30 h after notice (fixed). Order A's deadline (29.5 h) falls between
    the notice schedule's 24 h and 36 h checks: the crawl checks it at exactly the deadline and
    1 min, 10 min and 1 h after, and A is late by (10 min, 1 h] (truly 30 min). Order B's
    deadline (5 days) comes when B is confirmed down and its notice schedule is done with it
    (next: 7 days after the takedown): B is still checked at its deadline, and complied."""
    from monitor.core.compliance import ComplianceState, judge
    from monitor.sim.demo.run import steps_from
    from monitor.sim.stepped import stepped_crawl
    from monitor.store.summary import load
    from tests.crawl_helpers import at, behaviour_scenario, crawl_config, load_world

    clock.fix(None)
    world = await make_world(behaviour_scenario(("404", "410"), delay_hours=30.0))
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    start = world.scenario.start
    a, b = world.plan.reports()
    deadlines = {a.id: start + timedelta(hours=29.5), b.id: start + timedelta(days=5)}
    at(world, start + timedelta(hours=2))
    path = write(
        tmp_path,
        "o.csv",
        "url,order_id,issued_at,deadline\n"
        + "".join(
            f"{world.url(i)},O-{i.id},{clock.iso(start + timedelta(hours=2))},"
            f"{clock.iso(deadlines[i.id])}\n"
            for i in (a, b)
        ),
    )
    db = store.connect(db_file)
    assert import_orders(db, path, config).added == 2

    async def on_step(when):
        at(world, when)

    try:
        await stepped_crawl(
            db_file,
            config,
            steps_from(db, start + timedelta(hours=2), start + timedelta(days=6)),
            on_step=on_step,
            resolve_asn=False,
        )
    finally:
        clock.fix(None)
    ids = {url: rid for rid, url in db.execute("SELECT id, url FROM reports")}
    for item in (a, b):
        rid, d = ids[world.url(item)], deadlines[item.id]
        due = {r[0] for r in db.execute("SELECT due_at FROM checks WHERE report_id = ?", [rid])}
        follow = [d, d + timedelta(minutes=1), d + timedelta(minutes=10), d + timedelta(hours=1)]
        assert {clock.iso(t) for t in follow} <= due, (item.id, sorted(due))
    timelines = load(db, ids.values(), config.takedown)
    got = {}
    for item in (a, b):
        rid = ids[world.url(item)]
        checks = [
            Observation(clock.parse(t), o, r)
            for t, o, r in db.execute(
                "SELECT checked_at, outcome, reason FROM checks WHERE report_id = ?", [rid]
            )
        ]
        got[item.id] = judge(deadlines[item.id], checks, config.takedown)
    assert timelines[ids[world.url(b)]].timeline.state.value == "down"
    late = got[a.id]
    assert late.state is ComplianceState.LATE
    assert (late.lateness_low, late.lateness) == (timedelta(minutes=10), timedelta(hours=1))
    assert got[b.id].state is ComplianceState.COMPLIED
    db.conn.close()
