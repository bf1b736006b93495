"""A recheck crawl over IPv6: reports at http://[::1]:PORT/... on the hoster world.

The world binds [::1] for its ipv6 hoster; every other item of that hoster is served there.
The crawl must reach them, record the server IP ::1, and classify each as the plan says (still
online: hash_match; removed: 404). Run twice: baselines with SHA-256 hashed inline (the exact
digest confirms the material without decoding), and baselines of perceptual hashes only, hashed
in a worker process (hash_workers = 1).
"""

from __future__ import annotations

import csv
import json
import os
from datetime import timedelta

import pytest

from monitor import store
from monitor.core import clock
from monitor.intake.hosters import import_hosters
from monitor.intake.reports import import_reports
from monitor.runners.crawl import run_crawl
from monitor.sim import truth
from monitor.sim.scenario import from_dict
from tests.crawl_helpers import at, crawl_config, has_ipv6

pytestmark = pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


def v6_scenario():
    hoster = {
        "name": "V6 Hosting",
        "asn": 64620,
        "country": "NL",
        "items": 8,
        "galleries": 0,
        "ipv6": True,
        "formats": {"jpeg": 0.5, "png": 0.5},
        "delay": {"dist": "fixed", "median_hours": 2, "never_share": 0.5},
        "after": {"404": 1.0},
    }
    return from_dict(
        {
            "name": "v6",
            "seed": 5,
            "start": "2026-02-01T00:00:00Z",
            "days": 10,
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "reappear_share": 0.0,
            "reupload_share": 0.0,
            "baseline_share": 1.0,
            "hash_list_share": 0.0,
            "hosters": [hoster],
        }
    )


def load(world, directory, config, *, digests: bool):
    files = truth.write(world, directory)
    reports = files["reports"]
    if not digests:  # perceptual baselines only: the fetched image must be decoded and hashed
        with open(reports, newline="") as fh:
            rows = list(csv.DictReader(fh))
        reports = directory / "reports-perceptual.csv"
        with open(reports, "w", newline="") as fh:
            out = csv.DictWriter(fh, fieldnames=list(rows[0]))
            out.writeheader()
            out.writerows({**r, "sha256": ""} for r in rows)
    db_file = directory / "v6.db"
    db = store.connect(db_file)
    import_hosters(db, files["hosters"])
    result = import_reports(db, reports, config)
    assert result.bad == 0, result.errors
    db.conn.close()
    return db_file


@pytest.mark.parametrize(
    ("digests", "hash_workers", "algorithm"),
    [(True, 0, "sha256"), (False, 1, "pdq")],
    ids=["sha256-inline", "perceptual-worker"],
)
async def test_recheck_over_ipv6_records_the_v6_address(
    make_world, tmp_path, digests, hash_workers, algorithm
):
    world = await make_world(v6_scenario())
    assert world.ipv6, "the world did not bind [::1]"
    config = crawl_config(hash_workers=hash_workers)
    db_file = load(world, tmp_path, config, digests=digests)
    now = world.scenario.start + timedelta(hours=3)
    at(world, now)
    v6 = {world.url(i): i for i in world.plan.reports() if i.v6}
    assert v6 and all(u.startswith(f"http://[::1]:{world.port}/") for u in v6)
    online = {u for u, i in v6.items() if i.removal_at is None or i.removal_at > now}
    assert online and online != set(v6), "the plan needs v6 items both online and removed"

    summary = await run_crawl(db_file, config, resolve_asn=False)
    assert summary.written == len(world.plan.reports())

    db = store.connect(db_file)
    rows = db.execute(
        "SELECT r.url, c.outcome, c.reason, c.http_status, c.ip, c.algorithm, c.distance "
        "FROM checks c JOIN reports r ON r.id = c.report_id"
    ).fetchall()
    db.conn.close()
    seen = {url: rest for url, *rest in rows if url in v6}
    assert set(seen) == set(v6)
    for url, (outcome, reason, status, ip, algo, distance) in seen.items():
        assert ip == "::1", (url, ip)
        if url in online:
            assert (outcome, reason, status) == ("online", "hash_match", 200), url
            assert (algo, distance) == (algorithm, 0), url
        else:
            assert (outcome, status) == ("removed", 404), (url, outcome, reason)
    others = [ip for url, _o, _r, _s, ip, *_ in rows if url not in v6]
    assert others and "::1" not in others  # the IPv4 half of the hoster stays on IPv4
    db = store.connect(db_file)
    stats = json.loads(db.execute("SELECT stats FROM crawls ORDER BY id DESC").fetchone()[0])
    db.conn.close()
    # a worker's CPU time is counted apart from the crawl's (Linux /proc); none when inline
    if os.path.exists("/proc/self/stat"):
        assert ("monitor/hashing/cpu_ms" in stats) is (hash_workers == 1)
