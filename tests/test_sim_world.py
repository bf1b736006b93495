"""The hoster world answers per item script over simulated time (plain aiohttp client)."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import aiohttp
import imagehash
import pytest
from PIL import Image

from monitor.sim.plan import phase_at
from monitor.sim.scenario import AFTER, from_dict
from monitor.sim.world import World
from tests.crawl_helpers import has_ipv6

BEFORE = "2026-01-05T05:00:00Z"  # every item of the behaviour world is online
AFTER_T = "2026-01-06T00:00:00Z"  # every item of it is removed (fixed 10 h delay)


def behaviour_scenario(**extra):
    hosters = [
        {
            "name": f"H {b}",
            "asn": 64600 + i,
            "items": 1,
            "unknown": "404",
            "delay": {"dist": "fixed", "median_hours": 10},
            "after": {b: 1},
        }
        for i, b in enumerate(AFTER)
    ]
    return from_dict(
        {
            "name": "behaviours",
            "seed": 3,
            "start": "2026-01-05T00:00:00Z",
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "hosters": hosters,
            **extra,
        }
    )


def by_after(world: World):
    return {it.after: it for it in world.plan.reports()}


def ip_url(world: World, item) -> str:
    return world.ip_url(item)


async def fetch(session, url, **kw):
    async with session.get(url, allow_redirects=False, **kw) as resp:
        return resp.status, resp.headers, await resp.read()


def phash(data: bytes):
    return imagehash.phash(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture
async def behaviours(make_world):
    return await make_world(
        behaviour_scenario(), now=BEFORE, slow_seconds=20, oversize_bytes=3 * 2**20
    )


async def test_every_item_serves_its_image_before_removal(behaviours):
    async with aiohttp.ClientSession() as s:
        for it in behaviours.plan.items:
            status, headers, body = await fetch(s, ip_url(behaviours, it))
            assert status == 200, it.after
            assert headers["Content-Type"] == "image/jpeg"
            assert body == behaviours.body(it)
            Image.open(io.BytesIO(body)).load()


async def test_simple_removals_after_clock_step(behaviours):
    items = by_after(behaviours)
    behaviours.set_now(AFTER_T)
    async with aiohttp.ClientSession() as s:
        for code in ("404", "410", "451"):
            status, headers, body = await fetch(s, ip_url(behaviours, items[code]))
            assert status == int(code)
            assert headers["Content-Type"].startswith("text/html")
        status, headers, body = await fetch(s, ip_url(behaviours, items["placeholder"]))
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert body == behaviours.placeholder(items["placeholder"].hoster)
        status, headers, _ = await fetch(s, ip_url(behaviours, items["redirect_front"]))
        assert status == 302 and headers["Location"] == "/"
        status, headers, _ = await fetch(s, ip_url(behaviours, items["redirect_removed"]))
        assert status == 302 and headers["Location"] == "/removed.html"
        base = behaviours.base_url(items["redirect_removed"].hoster)
        status, _, body = await fetch(s, base + "/removed.html")
        assert status == 200 and b"removed" in body
        status, headers, body = await fetch(s, ip_url(behaviours, items["html"]))
        assert status == 200 and headers["Content-Type"].startswith("text/html")


async def test_different_image_is_far_from_the_original(behaviours):
    item = by_after(behaviours)["different_image"]
    async with aiohttp.ClientSession() as s:
        _, _, before = await fetch(s, ip_url(behaviours, item))
        behaviours.set_now(AFTER_T)
        status, headers, after = await fetch(s, ip_url(behaviours, item))
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert phash(before) - phash(after) > 12


async def test_reset_slow_and_broken_bodies(behaviours):
    items = by_after(behaviours)
    behaviours.set_now(AFTER_T)
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientConnectionError):
            await fetch(s, ip_url(behaviours, items["reset"]))
        with pytest.raises(asyncio.TimeoutError):
            await fetch(
                s, ip_url(behaviours, items["slow"]), timeout=aiohttp.ClientTimeout(total=0.3)
            )
        status, headers, body = await fetch(s, ip_url(behaviours, items["oversize"]))
        assert status == 200 and int(headers["Content-Length"]) == 3 * 2**20
        assert len(body) == 3 * 2**20
        status, headers, body = await fetch(s, ip_url(behaviours, items["bomb"]))
        assert status == 200 and len(body) < 4096
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(body))
        status, headers, body = await fetch(s, ip_url(behaviours, items["corrupt"]))
        assert status == 200 and headers["Content-Type"] == "image/jpeg"
        with pytest.raises(OSError):
            Image.open(io.BytesIO(body)).load()


async def test_oversize_body_can_be_abandoned(make_world):
    world = await make_world(behaviour_scenario(), now=AFTER_T, oversize_bytes=512 * 2**20)
    item = by_after(world)["oversize"]
    async with aiohttp.ClientSession() as s:
        async with s.get(ip_url(world, item)) as resp:
            assert resp.content_length == 512 * 2**20
            first = await resp.content.read(100_000)
            assert first
    # the world still answers after the client walked away
    async with aiohttp.ClientSession() as s:
        status, _, _ = await fetch(s, world.front_url(item.hoster))
    assert status == 200


async def test_clock_through_admin_endpoint(behaviours):
    item = by_after(behaviours)["410"]
    async with aiohttp.ClientSession() as s:
        assert (await fetch(s, ip_url(behaviours, item)))[0] == 200
        async with s.post(behaviours.admin_url + "/__admin/clock", json={"now": AFTER_T}) as resp:
            assert (await resp.json()) == {"now": AFTER_T}
        assert (await fetch(s, ip_url(behaviours, item)))[0] == 410
        async with s.post(behaviours.admin_url + "/__admin/clock", json={"advance": "-1d"}) as resp:
            assert (await resp.json())["now"] == "2026-01-05T00:00:00Z"
        assert (await fetch(s, ip_url(behaviours, item)))[0] == 200
        async with s.post(
            behaviours.admin_url + "/__admin/clock", json={"now": "yesterday"}
        ) as resp:
            assert resp.status == 400


async def test_hosters_have_distinct_addresses_on_one_port(behaviours):
    ips = {behaviours.sites[h.name].hoster.ip for h in behaviours.scenario.hosters}
    assert len(ips) == len(behaviours.scenario.hosters)
    async with aiohttp.ClientSession() as s:
        for h in behaviours.scenario.hosters:
            url = behaviours.front_url(h.name)
            assert url.startswith(f"http://{h.ip}:{behaviours.port}/")
            status, _, body = await fetch(s, url)
            assert status == 200 and h.name.encode() in body


async def test_unknown_paths_follow_the_hoster_habit(sim_world):
    by_unknown = {h.unknown: h for h in sim_world.scenario.hosters}
    async with aiohttp.ClientSession() as s:
        status, _, _ = await fetch(s, sim_world.base_url(by_unknown["404"].name) + "/nope/x.jpg")
        assert status == 404
        name = by_unknown["placeholder"].name
        status, headers, body = await fetch(s, sim_world.base_url(name) + "/zz/random-91.jpg")
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert body == sim_world.placeholder(name)


async def test_noise_while_online(make_world):
    scn = from_dict(
        {
            "name": "noise",
            "seed": 5,
            "start": "2026-01-05T00:00:00Z",
            "hosters": [
                {
                    "name": "Flaky",
                    "asn": 64700,
                    "items": 1,
                    "noise": {"5xx": 1},
                    "noise_rate": 0.5,
                    "delay": {"never_share": 1},
                },
                {
                    "name": "Picky",
                    "asn": 64701,
                    "items": 1,
                    "noise": {"blocked": 1},
                    "noise_rate": 0.5,
                    "delay": {"never_share": 1},
                },
            ],
        }
    )
    world = await make_world(scn)
    seen: dict[str, set[int]] = {"Flaky": set(), "Picky": set()}
    async with aiohttp.ClientSession() as s:
        for _ in range(48):
            for it in world.plan.items:
                seen[it.hoster].add((await fetch(s, world.url(it)))[0])
            world.advance("1h")
    assert 200 in seen["Flaky"] and seen["Flaky"] - {200} <= {500, 502, 503, 504}
    assert len(seen["Flaky"]) > 1
    assert 200 in seen["Picky"] and seen["Picky"] - {200} <= {401, 403, 429}
    assert len(seen["Picky"]) > 1


async def test_reappearance(make_world):
    scn = from_dict(
        {
            "name": "re",
            "seed": 9,
            "start": "2026-01-05T00:00:00Z",
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "reappear_share": 1.0,
            "reappear_after_days": [2, 3],
            "reappear_stay_days": [1, 2],
            "hosters": [
                {
                    "name": "Back",
                    "asn": 64800,
                    "items": 2,
                    "delay": {"dist": "fixed", "median_hours": 5},
                }
            ],
        }
    )
    world = await make_world(scn)
    item = world.plan.items[0]
    assert item.reappear_at and item.reappear_until
    async with aiohttp.ClientSession() as s:
        statuses = []
        for when in (item.removal_at, item.reappear_at, item.reappear_until):
            world.set_now(when - _second())
            statuses.append((await fetch(s, world.url(item)))[0])
            world.set_now(when)
            statuses.append((await fetch(s, world.url(item)))[0])
    assert statuses == [200, 404, 404, 200, 200, 404]


def _second():
    return timedelta(seconds=1)


async def test_reupload_appears_transformed_and_linked(make_world):
    scn = from_dict(
        {
            "name": "ru",
            "seed": 11,
            "start": "2026-01-05T00:00:00Z",
            "reupload_share": 1.0,
            "reupload_other_hoster_share": 1.0,
            "transforms": ["border"],
            "hosters": [
                {"name": "Origin", "asn": 64900, "items": 1, "galleries": 1},
                {"name": "Elsewhere", "asn": 64901, "items": 1, "galleries": 1},
            ],
        }
    )
    world = await make_world(scn)
    original = next(i for i in world.plan.reports() if i.hoster == "Origin")
    copy = next(r for r in world.plan.reuploads() if r.of == original.id)
    assert copy.hoster == "Elsewhere" and copy.transform == "border"
    gallery = world.gallery_urls("Elsewhere")[0]
    async with aiohttp.ClientSession() as s:
        world.set_now(copy.appear_at - _second())
        assert (await fetch(s, world.url(copy)))[0] == 404
        assert copy.path.encode() not in (await fetch(s, gallery))[2]
        world.set_now(copy.appear_at)
        status, _, body = await fetch(s, world.url(copy))
        assert status == 200
        page = (await fetch(s, gallery))[2]
        assert copy.path.encode() in page
    orig_body = world.body(original)
    assert phase_at(copy, world.now) == "online"
    img, orig = Image.open(io.BytesIO(body)), Image.open(io.BytesIO(orig_body))
    assert img.size != orig.size  # a border was added
    assert body != orig_body


async def test_gallery_and_front_page_forms(sim_world):
    name = sim_world.scenario.hosters[0].name
    async with aiohttp.ClientSession() as s:
        _, _, front = await fetch(s, sim_world.front_url(name))
        assert b'href="/g/0.html"' in front and b"og:image" in front
        pages = [(await fetch(s, url))[2] for url in sim_world.gallery_urls(name)]
    html = b"".join(pages)
    assert b"<img src=" in html and b"srcset=" in html and b'<a href="/files/' in html


async def test_canary_is_in_every_served_image(make_world):
    world = await make_world("tiny", canary=b"CANARY-7f3a9c")
    async with aiohttp.ClientSession() as s:
        for it in world.plan.reports():
            _, headers, body = await fetch(s, world.ip_url(it))
            assert headers["Content-Type"].startswith("image/")
            assert b"CANARY-7f3a9c" in body, it.fmt


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")
async def test_ipv6_hoster(sim_world):
    assert sim_world.ipv6
    v6_items = [i for i in sim_world.plan.reports() if i.v6]
    assert v6_items
    async with aiohttp.ClientSession() as s:
        url = sim_world.url(v6_items[0])
        assert url.startswith(f"http://[::1]:{sim_world.port}/")
        status, _, body = await fetch(s, url)
        assert status == 200 and body == sim_world.body(v6_items[0])


async def test_head_and_robots(sim_world):
    it = sim_world.plan.reports()[0]
    async with aiohttp.ClientSession() as s:
        async with s.head(sim_world.url(it)) as resp:
            assert resp.status == 200
        status, _, body = await fetch(s, sim_world.base_url(it.hoster) + "/robots.txt")
        assert status == 200 and body.startswith(b"User-agent")


def test_world_in_a_thread(sim_thread):
    import urllib.request

    world = sim_thread.world
    item = world.plan.reports()[0]
    with urllib.request.urlopen(world.url(item), timeout=5) as resp:
        assert resp.status == 200 and resp.read() == world.body(item)
