"""Pytest fixtures of the simulated hoster world: servers on free loopback ports, stopped cleanly.

sim_world          a started World of the shipped "tiny" scenario (function scope)
make_world         async factory: `await make_world("tiny", now=..., canary=b"...")`
sim_dns            a started CymruDNS (monitor.sim.dns)
sim_world_dns      sim_world with sim_dns attached (prefixes, ASNs, dns_gone hostnames)
webhook_receiver   a started WebhookReceiver knowing the tiny scenario's hook secrets,
                   default secret WEBHOOK_TEST_SECRET (a whsec_ secret)
smtp_sink          a started SmtpSink
sim_thread         a World of "tiny" running on its own thread (for Scrapy/Twisted tests)
redis_server       a private redis-server on a free port (monitor.sim.redis_proc)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from monitor.sim import scenario as scenarios
from monitor.sim import truth
from monitor.sim.background import SimThread
from monitor.sim.receivers import SmtpSink, WebhookReceiver
from monitor.sim.redis_proc import RedisServer, available
from monitor.sim.world import World

WEBHOOK_TEST_SECRET = "whsec_bnRkLW1vbml0b3IgdGVzdCB3ZWJob29rIHNlY3JldCE="


@pytest_asyncio.fixture
async def make_world() -> AsyncIterator[Callable[..., Awaitable[World]]]:
    started: list[World] = []

    async def factory(scenario: Any = "tiny", **kwargs: Any) -> World:
        world = World(scenario, **kwargs)
        await world.start()
        started.append(world)
        return world

    yield factory
    for world in reversed(started):
        await world.stop()


@pytest_asyncio.fixture
async def sim_world(make_world: Callable[..., Awaitable[World]]) -> World:
    return await make_world("tiny")


@pytest.fixture
def sim_dns() -> Iterator[Any]:
    dns_mod = pytest.importorskip("monitor.sim.dns")
    server = dns_mod.CymruDNS()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def sim_world_dns(sim_world: World, sim_dns: Any) -> World:
    sim_world.attach_dns(sim_dns)
    return sim_world


@pytest_asyncio.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    scn = scenarios.load("tiny")
    secrets = truth.webhook_secrets(scn)
    paths = {truth.webhook_path(h): secrets[truth.secret_env(h)] for h in scn.hosters if h.webhook}
    receiver = WebhookReceiver(paths, default_secret=WEBHOOK_TEST_SECRET, slow_seconds=10.0)
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def sim_thread() -> Iterator[SimThread]:
    with SimThread(World("tiny")) as sim:
        yield sim


@pytest.fixture
def redis_server() -> Iterator[Any]:
    """A private redis-server on a free port (AOF on). Skips where the binary is missing,
    unless NTD_REQUIRE_REDIS=1 (CI), where that is a failure."""

    if not available():
        if os.environ.get("NTD_REQUIRE_REDIS") == "1":
            pytest.fail(
                "NTD_REQUIRE_REDIS=1 but no redis-server found (apt-get install redis-server)"
            )
        pytest.skip(
            "no redis-server found (apt-get install redis-server); set "
            "NTD_REQUIRE_REDIS=1 to make this a failure"
        )
    with RedisServer() as server:
        yield server
