"""The simulated world's CDN (issue 24): its own address, prefix and ASN in the sim DNS, CDN
headers, in-process forwarding to the origin hoster for the items it fronts, and the demo's
files naming it (cdns.csv, truth)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import aiohttp
import pytest

from monitor.attribution.edge import edge_from_headers
from monitor.sim import scenario as scenarios
from monitor.sim import truth
from monitor.sim.plan import generate
from monitor.sim.scenario import ScenarioError
from monitor.sim.world import edge_host
from tests.test_sim_dns import resolver, txt


@pytest.fixture
def fronted_scenario():
    """The default scenario's first three hosters (two of them fronted), a few items each."""
    from dataclasses import replace

    base = scenarios.load("default")
    hosters = tuple(replace(h, items=8) for h in base.hosters[:3])
    return replace(base, hosters=hosters)


def test_default_scenario_fronts_some_items_of_several_hosters():
    scn = scenarios.load("default")
    assert scn.cdn is not None and scn.cdn.asn not in {h.asn for h in scn.hosters}
    plan = generate(scn)
    fronted = [i for i in plan.reports() if i.cdn]
    assert len({i.hoster for i in fronted}) >= 3
    assert all(scn.cdn.fronting(i.hoster) and not i.hostname for i in fronted)
    assert not any(i.cdn for i in plan.reuploads())
    # marking items never moves the rest of the plan
    plain = generate(scenarios.from_dict({**_raw_default(), "cdn": None}))
    assert [(i.id, i.path, i.removal_at) for i in plain.items] == [
        (i.id, i.path, i.removal_at) for i in plan.items
    ]


def _raw_default() -> dict:
    import tomllib

    return tomllib.loads(scenarios.shipped("default").read_text())


@pytest.mark.parametrize(
    "cdn, message",
    [
        ({"name": "X", "asn": 1, "ip": "10.0.0.1", "prefix": "10.0.0.0/24"}, "loopback"),
        ({"name": "X", "asn": 1, "ip": "127.0.2.1", "prefix": "127.0.0.0/8"}, "no hoster's"),
        ({"name": "X", "asn": 1, "share": 2}, "share"),
        ({"name": "X", "asn": 1, "colour": "red"}, "unknown keys"),
    ],
)
def test_bad_cdn_is_refused(cdn, message):
    with pytest.raises(ScenarioError, match=message):
        scenarios.from_dict({**_raw_default(), "cdn": cdn})


def via_edge(world, url: str) -> tuple[str, dict[str, str]]:
    """`url` (a fronted site's name) as a request to the CDN's address with its Host header."""
    parts = urlsplit(url)
    return (f"http://{world.scenario.cdn.ip}:{world.port}{parts.path}", {"Host": parts.netloc})


async def test_edge_forwards_to_the_origin_with_cdn_headers(make_world, sim_dns, fronted_scenario):
    world = await make_world(fronted_scenario)
    world.attach_dns(sim_dns)
    cdn = world.scenario.cdn
    fronted = [i for i in world.plan.reports() if i.cdn]
    assert len({i.hoster for i in fronted}) >= 2
    res = resolver(sim_dns)
    async with aiohttp.ClientSession() as s:
        for item in fronted:
            url = world.url(item)
            host = urlsplit(url).hostname
            assert host == edge_host(world.scenario, item.hoster)
            assert item.hoster.split()[0].lower() not in host  # the name hides the origin
            assert [r.address for r in res.resolve(host, "A")] == [cdn.ip]
            target, head = via_edge(world, url)
            async with s.get(target, headers=head) as r:
                assert r.status == 200
                assert await r.read() == world.body(item)  # the origin's bytes
                assert r.headers["x-cdn"] == cdn.name and "cf-ray" in r.headers
                assert edge_from_headers(r.headers) is not None
        # a name the CDN does not front: the edge's own 404
        async with s.get(
            f"http://{cdn.ip}:{world.port}/x.jpg", headers={"Host": "unknown.example"}
        ) as r:
            assert r.status == 404 and "cf-ray" in r.headers
        # a path that never existed on a fronted site: the origin's answer, through the edge
        tulip = next(i for i in fronted if i.hoster == "Tulip Images")
        target, head = via_edge(world, world.url(tulip).rsplit("/", 1)[0] + "/nope.jpg")
        async with s.get(target, headers=head) as r:
            assert r.status == 200 and r.content_type == "image/png"  # its placeholder
            assert await r.read() == world.placeholder("Tulip Images")
        # removed at the origin: the edge passes the origin's answer on
        item = next(i for i in fronted if i.removal_at and i.after in ("404", "410"))
        world.set_now(item.removal_at)
        target, head = via_edge(world, world.url(item))
        async with s.get(target, headers=head) as r:
            assert r.status == int(item.after) and "cf-ray" in r.headers
        # galleries on the origin never link a fronted item (it is reached via the CDN only)
        for hoster in {i.hoster for i in fronted}:
            for gallery in world.gallery_urls(hoster):
                async with s.get(gallery) as r:
                    page = await r.text()
                assert not any(i.path in page for i in fronted if i.hoster == hoster)
    # the sim DNS announces the CDN's prefix with its own ASN and AS name
    res = resolver(sim_dns)
    reversed_ip = ".".join(reversed(cdn.ip.split(".")))
    assert txt(res, f"{reversed_ip}.origin.asn.cymru.com").split("|")[0].strip() == str(cdn.asn)
    assert cdn.as_name in txt(res, f"AS{cdn.asn}.asn.cymru.com")


async def test_truth_and_cdn_registry_file(make_world, fronted_scenario, tmp_path):
    world = await make_world(fronted_scenario)
    files = truth.write(world, tmp_path)
    cdn = world.scenario.cdn
    assert files["cdns"].read_text().splitlines() == [
        "name,asn,prefix,abuse_email",
        f"{cdn.name},{cdn.asn},,{cdn.abuse_email}",
    ]
    data = json.loads(files["truth"].read_text())
    fronted = [i for i in data["items"] if i["cdn"]]
    assert data["cdn"]["fronted_items"] == len(fronted) > 0
    assert all(
        urlsplit(i["url"]).hostname == edge_host(world.scenario, i["hoster"]) for i in fronted
    )
