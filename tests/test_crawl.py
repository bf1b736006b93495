"""The recheck crawl against the simulated hoster world: every behaviour, honestly classified."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor import store
from monitor.core import clock
from monitor.runners.crawl import run_crawl
from tests.crawl_helpers import at, behaviour_scenario, crawl_config, load_world

EXPECTED = {
    "404": ("removed", "http_404"),
    "410": ("removed", "http_410"),
    "451": ("removed", "http_451"),
    "placeholder": ("removed", "placeholder"),
    "redirect_front": ("removed", "redirect_away"),
    "redirect_removed": ("removed", "redirect_away"),
    "different_image": ("removed", "content_changed"),
    "html": ("removed", None),
    "reset": ("unreachable", None),
    "slow": ("unreachable", "timeout"),
    "oversize": ("unreachable", "too_large"),
    "corrupt": ("removed", None),
    "dns_gone": ("dns_gone", "nxdomain"),
}


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


def outcomes(db_file):
    db = store.connect(db_file)
    rows = db.execute(
        "SELECT r.url, c.outcome, c.reason, c.http_status, c.due_at, c.ip FROM checks c "
        "JOIN reports r ON r.id = c.report_id ORDER BY c.checked_at"
    ).fetchall()
    db.conn.close()
    return rows


async def test_every_behaviour_is_classified(make_world, sim_dns, tmp_path):
    world = await make_world(behaviour_scenario(tuple(EXPECTED)))
    world.attach_dns(sim_dns)
    config = crawl_config(sim_dns, download_timeout=timedelta(seconds=2))
    db_file = load_world(world, tmp_path, config)
    start = world.scenario.start
    at(world, start + timedelta(hours=1, minutes=1))
    first = await run_crawl(db_file, config, resolve_asn=False)
    assert first.written == len(EXPECTED)
    rows = outcomes(db_file)
    assert {o for _, o, *_ in rows} == {"online"}, rows
    assert all(reason == "first_check" for _, _, reason, *_ in rows)
    at(world, start + timedelta(hours=8, minutes=1))
    second = await run_crawl(db_file, config, resolve_asn=False)
    assert second.written == len(EXPECTED)
    latest = {}
    for url, outcome, reason, *_rest in outcomes(db_file):
        latest[url] = (outcome, reason)
    by_behaviour = {item.after: world.url(item) for item in world.plan.reports()}
    for behaviour, (outcome, reason) in EXPECTED.items():
        got = latest[by_behaviour[behaviour]]
        assert got[0] == outcome, (behaviour, got)
        if reason:
            assert got[1] == reason, (behaviour, got)


async def test_crawl_records_each_slot_once(make_world, tmp_path):
    world = await make_world(behaviour_scenario(("404", "different_image"), items=3))
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    at(world, world.scenario.start + timedelta(hours=2, minutes=5))
    await run_crawl(db_file, config, resolve_asn=False)
    again = await run_crawl(db_file, config, resolve_asn=False)  # same clock: nothing due
    assert again.written == 0
    rows = outcomes(db_file)
    assert len(rows) == 6
    assert len({(url, due) for url, _, _, _, due, _ in rows}) == 6


async def test_placeholder_at_first_check_is_not_taken_as_the_baseline(make_world, tmp_path):
    # Removed 30 minutes after notice, before the first check at +1h: the host answers with its
    # placeholder image, which must read as removed, never become the report's baseline.
    world = await make_world(behaviour_scenario(("placeholder",), items=2, delay_hours=0.5))
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    at(world, world.scenario.start + timedelta(hours=1, minutes=1))
    await run_crawl(db_file, config, resolve_asn=False)
    rows = outcomes(db_file)
    assert [(o, r) for _, o, r, *_ in rows] == [("removed", "placeholder")] * 2
    db = store.connect(db_file)
    assert db.execute("SELECT COUNT(*) FROM report_hashes").fetchone()[0] == 0


async def test_a_stop_asked_before_the_crawl_runs_stops_it(make_world, tmp_path):
    """A stop (SIGTERM in `run`) in a crawl's first moments: Scrapy 2.19 dropped a stop asked
    for before its engine ran (the whole crawl went on). Now it stops once its engine runs: the
    checks under way finish, the rest stays due for the next crawl."""
    import asyncio

    world = await make_world(behaviour_scenario(("slow",), items=5))  # no answer in time
    config = crawl_config(download_timeout=timedelta(seconds=1))  # 4 at once per hoster
    db_file = load_world(world, tmp_path, config)
    at(world, world.scenario.start + timedelta(hours=2, minutes=5))
    stop = asyncio.Event()
    stop.set()
    stopped = await asyncio.wait_for(run_crawl(db_file, config, resolve_asn=False, stop=stop), 60)
    assert stopped.interrupted and stopped.written < 5
    rest = await run_crawl(db_file, config, resolve_asn=False)
    assert stopped.written + rest.written == 5 == len(outcomes(db_file))
