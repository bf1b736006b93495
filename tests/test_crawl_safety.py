"""Crawl safety: content is never persisted (canary), the network guard, and kill -9 recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

import pytest

from monitor import clock, store
from monitor.crawl import run_crawl
from spiders.resolver import Resolver, TargetRefused
from tests.crawl_helpers import at, behaviour_scenario, crawl_config, load_world

CANARY = b"NTD-CANARY-7f3a9c1e-DO-NOT-PERSIST"


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


async def test_fetched_content_never_reaches_disk(make_world, tmp_path):
    world = await make_world(behaviour_scenario(("404", "different_image", "html"), items=2),
                             canary=CANARY)
    assert CANARY in world.body(world.plan.reports()[0])  # the world really serves it
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    for hours in (1, 8, 13):
        at(world, world.scenario.start + timedelta(hours=hours, minutes=1))
        result = await run_crawl(db_file, config, resolve_asn=False)
        assert result.written == 6
    found = []
    for root, _dirs, files in os.walk(tmp_path):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                if CANARY in fh.read():
                    found.append(path)
    assert found == []
    assert (tmp_path / "t.db-wal").exists() or (tmp_path / "t.db").exists()


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.1.1", "169.254.1.1",
                                     "224.0.0.1", "::1", "fe80::1", "::ffff:127.0.0.1"])
async def test_guard_refuses_non_public_addresses(address):
    with pytest.raises(TargetRefused):
        await Resolver(allow_private=False).addresses(address)
    assert await Resolver(allow_private=True).addresses(address) == (address,)


async def test_guard_refuses_names_that_resolve_to_private(sim_dns):
    sim_dns.add_host("sneaky.sim.test", ["127.0.1.9"])
    resolver = Resolver([sim_dns.address], allow_private=False)
    with pytest.raises(TargetRefused):
        await resolver.addresses("sneaky.sim.test")
    allowed = Resolver([sim_dns.address], allow_private=True)
    assert await allowed.addresses("sneaky.sim.test") == ("127.0.1.9",)


async def test_crawl_without_permission_never_touches_loopback(make_world, tmp_path):
    world = await make_world(behaviour_scenario(("404", "redirect_front"), items=2))
    config = crawl_config(allow_private_networks=False)
    db_file = load_world(world, tmp_path, config)
    at(world, world.scenario.start + timedelta(hours=1, minutes=1))
    served_before = world.requests
    result = await run_crawl(db_file, config, resolve_asn=False)
    assert result.written == 4
    db = store.connect(db_file)
    assert db.execute("SELECT DISTINCT outcome, reason FROM checks").fetchall() == [
        ("unreachable", "ssrf_refused")]
    assert world.requests == served_before


def _config_file(tmp_path, world_dns=None) -> str:
    path = tmp_path / "c.toml"
    path.write_text("[crawl]\nallow_private_networks = true\nhash_workers = 0\n"
                    "autothrottle = false\nconcurrent_requests = 8\nper_hoster_concurrency = 2\n")
    return str(path)


async def test_kill_9_mid_crawl_loses_nothing_and_doubles_nothing(make_world, tmp_path):
    world = await make_world(behaviour_scenario(("404", "different_image", "410"), items=250))
    config = crawl_config()
    db_file = load_world(world, tmp_path, config)
    when = world.scenario.start + timedelta(hours=1, minutes=1)
    at(world, when)
    args = [sys.executable, "-m", "monitor", "--db", str(db_file), "--config",
            _config_file(tmp_path), "--now", clock.iso(when), "crawl", "--no-progress"]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    db = store.connect(db_file)
    for _ in range(600):
        await asyncio.sleep(0.1)
        if db.execute("SELECT COUNT(*) FROM checks").fetchone()[0] >= 500:
            break
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    partial = db.execute("SELECT COUNT(*) FROM checks").fetchone()[0]
    assert 500 <= partial < 750
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    total, distinct = db.execute(
        "SELECT COUNT(*), COUNT(DISTINCT report_id || due_at) FROM checks").fetchone()
    assert total == distinct == 750
    assert db.execute("SELECT COUNT(*) FROM reports WHERE next_check_at <= ?",
                      [clock.iso(when)]).fetchone()[0] == 0
